"""Shared fixtures for block domains through a real agent.

A module-scoped ``host`` (sanlock, supervdsmd, vdsmd) that sees loop
devices as LUNs and reads LVs as lvfiles files under its ``[irs] lv_dir``
(no device-mapper here), a VG made by createVG whose LVs are served as
they come and go, and a pool whose master is a block domain with this
host as SPM. Test modules import the fixtures by name.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage import lvfiles
from tests.storage.blockdevs_test import guid_of, luns
from tests.storage.helpers import StorageHost, become_spm, new_uuid, ok
from tests.storage.lvmhelpers import forget_archives
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.storage.lvm import LVM, LocalRunner

MiB = 1024 * 1024
LUN_MB = 6 * 1024    # two make createVG's 10 GiB minimum (sparse files)
ISCSI = 3
DATA = 1


def block_host(lv_dir: str, extra: dict[tuple[str, str], Any] | None = None
               ) -> StorageHost:
    """A started host whose LUNs are loop devices and LVs lvfiles files
    (``extra``: more configuration); skips where lvfiles or sanlock
    cannot run."""
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    if shutil.which("sanlock") is None:
        pytest.skip("needs the sanlock package (scripts/install-deps.sh)")
    ensure_vdsm_user()
    return StorageHost({("irs", "list_loop_devices"): True, ("irs", "lv_dir"): lv_dir,
                        ("irs", "lv_activation"): False, **(extra or {})}).start()


@contextlib.contextmanager
def new_lv_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="vdsm-lvdir-", dir="/var/tmp")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def lv_dir() -> Iterator[str]:
    with new_lv_dir() as path:
        yield path


@pytest.fixture(scope="module")
def host(lv_dir: str) -> Iterator[StorageHost]:
    h = block_host(lv_dir)
    try:
        yield h
    finally:
        h.stop()


@contextlib.contextmanager
def serve_lvs(nodes: list[str], sd_uuid: str, lv_dir: str) -> Iterator[None]:
    """The VG's LVs as files under ``lv_dir/<VG>``, owned by vdsm (as udev
    rules make a real host's LVs), following every change."""
    vdsm = pwd.getpwnam("vdsm")
    with lvfiles.LVFiles(nodes, sd_uuid, os.path.join(lv_dir, sd_uuid),
                         follow=True, owner=(vdsm.pw_uid, vdsm.pw_gid)):
        yield


@contextlib.contextmanager
def domain_vg(proxy: Any, lv_dir: str, *sizes_mb: int
              ) -> Iterator[tuple[str, str, list[str]]]:
    """(sdUUID, VG UUID, LUN nodes): a VG made by createVG on two LUNs
    (or LUNs of ``sizes_mb``), its LVs served under lv_dir."""
    sd_uuid = new_uuid()
    with luns(*(sizes_mb or (LUN_MB, LUN_MB))) as nodes:
        try:
            vg_uuid = ok(proxy.createVG(sd_uuid, [guid_of(n) for n in nodes],
                                        False))["uuid"]
            with serve_lvs(nodes, sd_uuid, lv_dir):
                yield sd_uuid, vg_uuid, nodes
        finally:
            forget_archives(sd_uuid)


def root_lvm(sd_uuid: str, nodes: list[str]) -> LVM:
    """LVM in this process (root), as another host or an admin would see it."""
    lvm = LVM(LocalRunner())
    lvm.set_devices(sd_uuid, nodes)
    return lvm


@contextlib.contextmanager
def block_pool(proxy: Any, lv_dir: str, *, spm: bool = True
               ) -> Iterator[dict[str, Any]]:
    """A block data domain, master of a new pool this host is connected
    to (as host id 1) and, with ``spm``, the SPM of. Yields the names."""
    with domain_vg(proxy, lv_dir) as (sd, vg_uuid, nodes):
        ok(proxy.createStorageDomain(ISCSI, sd, "block data", vg_uuid, DATA, 5))
        sp = new_uuid()
        ok(proxy.createStoragePool(0, sp, "block pool", sd, [sd], 1))
        ok(proxy.connectStoragePool(sp, 1, "", sd, 1))
        try:
            if spm:
                become_spm(proxy, sp, 90)
            yield {"sd": sd, "sp": sp, "vg_uuid": vg_uuid, "nodes": nodes}
        finally:
            proxy.spmStop(sp)
            proxy.disconnectStoragePool(sp, 1, "")
