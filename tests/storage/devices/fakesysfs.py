"""A sysfs tree under a temporary directory, laid out as the kernel lays
out /sys/block and /sys/class for SCSI disks, multipath maps and iSCSI
sessions: a unit-test aid for hosts this machine is not (no SCSI, no
device-mapper). ``fakesysfs_test`` checks it reads like the real /sys for a
loop device.
"""

from __future__ import annotations

import os
from pathlib import Path


class FakeSysfs:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "block").mkdir(parents=True)

    def _write(self, path: Path, value: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")

    def disk(self, name: str, *, size: int, dev: str, logical: int = 512,
             physical: int = 512, discard_max: int = 0,
             ancestry: str | None = None, scsi: dict[str, str] | None = None,
             ) -> Path:
        """/sys/block/NAME; ``ancestry`` is the device's parent chain under
        /sys/devices (e.g. ``platform/host3/session1/target3:0:0/3:0:0:1``)
        with ``scsi`` attributes (vendor, model, rev, state, wwid) there."""
        block = self.root / "block" / name
        self._write(block / "size", size // 512)
        self._write(block / "dev", dev)
        self._write(block / "queue/logical_block_size", logical)
        self._write(block / "queue/physical_block_size", physical)
        self._write(block / "queue/discard_max_bytes", discard_max)
        self._write(block / "queue/discard_zeroes_data", 0)
        (block / "holders").mkdir()
        (block / "slaves").mkdir()
        if ancestry is not None:
            device = self.root / "devices" / ancestry
            device.mkdir(parents=True)
            for key, value in (scsi or {}).items():
                self._write(device / key, value)
            os.symlink(device, block / "device")
        return block

    def multipath(self, name: str, wwid: str, slaves: list[str], *, size: int,
                  dev: str) -> None:
        self.device_mapper(name, f"mpath-{wwid}", wwid, slaves, size=size, dev=dev)

    def device_mapper(self, name: str, uuid: str, dm_name: str, slaves: list[str],
                      *, size: int, dev: str) -> None:
        block = self.disk(name, size=size, dev=dev)
        self._write(block / "dm/uuid", uuid)
        self._write(block / "dm/name", dm_name)
        for slave in slaves:
            (block / "slaves" / slave).touch()
            (self.root / "block" / slave / "holders" / name).touch()

    def partition(self, disk: str, part: str) -> None:
        self._write(self.root / "block" / disk / part / "partition", 1)

    def iscsi_session(self, session: str, *, target: str, tpgt: int, iface: str,
                      address: str, port: int) -> None:
        cls = self.root / "class"
        self._write(cls / "iscsi_session" / session / "targetname", target)
        self._write(cls / "iscsi_session" / session / "tpgt", tpgt)
        self._write(cls / "iscsi_session" / session / "ifacename", iface)
        conn = cls / "iscsi_connection" / f"connection{session[7:]}:0"
        self._write(conn / "persistent_address", address)
        self._write(conn / "persistent_port", port)
