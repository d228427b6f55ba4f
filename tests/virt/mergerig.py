"""A storage host's verbs as the virt side's two seams, for the live
merge tests: drives given as volume ids become paths by the host's
prepareImage, and after a merge the metadata follows by its
reconcileVolumeChain (qemu-img's view of the new chain, then the sync).
The real agent joins the two subsystems in one process; here storage is
the storage tests' StorageHost (its own vdsmd, supervdsmd, sanlock) and
virt a process of its own (tests/virt/merge_vdsmd.py) that can be killed.
"""

from __future__ import annotations

import os
import xmlrpc.client
from typing import Any

from vdsm.common import pki

ENV = "VDSM_TEST_MERGE_STORAGE"    # "<port>:<pki dir>" of the storage host


class StorageSide:
    def __init__(self, port: int, pki_dir: str) -> None:
        self.port = port
        self.paths = pki.PkiPaths(pki_dir)

    @classmethod
    def from_env(cls) -> StorageSide:
        port, _, pki_dir = os.environ[ENV].partition(":")
        return cls(int(port), pki_dir)

    def env_value(self) -> str:
        return f"{self.port}:{self.paths.root}"

    def proxy(self) -> xmlrpc.client.ServerProxy:
        ctx = pki.client_context(self.paths.ca_cert,
                                 self.paths.client_cert("engine"),
                                 self.paths.client_key("engine"))
        return xmlrpc.client.ServerProxy(f"https://127.0.0.1:{self.port}",
                                         context=ctx, allow_none=True)

    # --- vdsm.virt.drives.DriveResolver ---------------------------------
    def prepare(self, drive: dict[str, Any]) -> str:
        answer = self.proxy().prepareImage(drive["poolID"], drive["domainID"],
                                           drive["imageID"], drive["volumeID"])
        _check(answer, "prepareImage")
        return answer.get("path") or answer["*"]["path"]

    def teardown(self, drive: dict[str, Any]) -> None:
        _check(self.proxy().teardownImage(drive["poolID"], drive["domainID"],
                                          drive["imageID"], drive["volumeID"]),
               "teardownImage")

    # --- vdsm.virt.livemerge.ChainSync ----------------------------------
    def sync(self, drive: dict[str, Any], chain: list[str]) -> list[str]:
        answer = self.proxy().reconcileVolumeChain(
            drive["poolID"], drive["domainID"], drive["imageID"], chain[-1])
        _check(answer, "reconcileVolumeChain")
        if answer["volumes"] != chain:
            raise RuntimeError(f"qemu-img sees {answer['volumes']}, the VM {chain}")
        return []


def _check(answer: dict[str, Any], verb: str) -> None:
    if answer["status"]["code"] != 0:
        raise RuntimeError(f"{verb}: {answer['status']}")
