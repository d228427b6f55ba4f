"""The OVF store: the engine's VM definitions as files on a pool domain.

The engine keeps each VM's OVF on the storage so a data center can be
rebuilt from its disks alone. Layout (the classic one)::

    <domain>/master/vms/<vmUUID>/<vmUUID>.ovf

on the master domain (or on the domain the engine names). On a block
domain ``master`` is the master LV's file system, mounted by the SPM. A
file is replaced atomically (temp file, fsync, rename, fsync of the
directory, through the domain's FileOps): a reader or a crash sees the
old definition or the new one, never a torn one. Master migration copies
``master/vms`` with the rest of the master tree.

Not thread-safe by itself: callers hold the domain's ``vms`` lock.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.errors import InvalidParameterException, StorageUpdateVmError
from vdsm.storage.io.file_operations import FileOps

log = logging.getLogger(__name__)

OVF_EXT = ".ovf"
FILE_MODE = 0o644
DIR_MODE = 0o755


def parse_vm_list(vm_list: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """The engine's ``[{vm, ovf, imglist}]`` as (uuid, ovf, images).

    Raises InvalidParameterException for an entry without ``vm``/``ovf``
    or with a ``vm`` that is not a plain name (it becomes a directory).
    Empty entries are skipped, as classic."""
    parsed = []
    for entry in vm_list:
        if not entry:
            continue
        try:
            vm_uuid, ovf = str(entry["vm"]), entry["ovf"]
        except (KeyError, TypeError):
            raise InvalidParameterException(
                f"Invalid parameter: vmList entry {entry!r} needs 'vm' and 'ovf'",
                name="vmList", value=str(entry)) from None
        if not vm_uuid or "/" in vm_uuid or vm_uuid in (".", ".."):
            raise InvalidParameterException(
                f"Invalid parameter: vm {vm_uuid!r}", name="vm", value=vm_uuid)
        images = [i for i in str(entry.get("imglist", "")).split(",") if i]
        parsed.append((vm_uuid, str(ovf), images))
    return parsed


class OvfStore:
    """The ``vms`` directory of one domain's master tree."""

    def __init__(self, ops: FileOps, master_dir: str) -> None:
        self.ops = ops
        self.vms_dir = os.path.join(master_dir, sc.VMS_DIR)

    def path(self, vm_uuid: str) -> str:
        return os.path.join(self.vms_dir, vm_uuid, vm_uuid + OVF_EXT)

    def update(self, vm_list: list[dict[str, Any]]) -> None:
        """Write (or replace) each VM's OVF. Raises InvalidParameterException
        (before anything is written), StorageUpdateVmError."""
        entries = parse_vm_list(vm_list)
        for vm_uuid, ovf, images in entries:
            try:
                self.ops.makedirs(os.path.dirname(self.path(vm_uuid)), DIR_MODE)
                self.ops.write_atomic(self.path(vm_uuid), ovf.encode("utf-8"),
                                      FILE_MODE)
            except OSError as e:
                raise StorageUpdateVmError(
                    f"Cannot update VM {vm_uuid} in {self.vms_dir}: {e}") from e
            log.info("OVF of VM %s written in %s (images %s)", vm_uuid,
                     self.vms_dir, ",".join(images))

    def remove(self, vm_uuid: str) -> None:
        """Remove a VM's directory; a VM not stored is not an error (classic)."""
        parse_vm_list([{"vm": vm_uuid, "ovf": ""}])   # a plain name only
        vm_dir = os.path.dirname(self.path(vm_uuid))
        try:
            self.ops.rmtree(vm_dir)
        except FileNotFoundError:
            return
        except OSError as e:
            raise StorageUpdateVmError(f"Cannot remove VM {vm_uuid}: {e}") from e
        log.info("OVF of VM %s removed from %s", vm_uuid, self.vms_dir)

    def list(self) -> list[str]:
        """UUIDs of the VMs whose OVF is stored (temp files of an interrupted
        write are not VMs)."""
        return [n for n in self._names() if self.ops.exists(self.path(n))]

    def _names(self) -> list[str]:
        """The VM directories (an OVF may be missing: read skips those)."""
        try:
            names = self.ops.listdir(self.vms_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith("."))

    def read(self, vm_uuids: list[str] | None = None) -> dict[str, str]:
        """{vmUUID: OVF text} of the given VMs (all when None); a VM not
        stored is left out, as classic."""
        wanted = list(vm_uuids) if vm_uuids else self._names()
        result = {}
        for vm_uuid in wanted:
            try:
                result[vm_uuid] = self.ops.read_file(self.path(vm_uuid)).decode("utf-8")
            except FileNotFoundError:
                log.info("no OVF for VM %s in %s", vm_uuid, self.vms_dir)
        return result
