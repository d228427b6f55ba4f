"""The listing of a host with more LUNs than LVM takes in one command
(300, as on a large SAN host): reports in slices, each VG read whole.
A recording LVM stand-in answers; the real reports are proven on loop
devices in blockdevs_test."""

from __future__ import annotations

from collections.abc import Sequence

from vdsm.storage import lvm_cmd
from vdsm.storage.blockdevs import Listing
from vdsm.storage.devices.blockdev import BlockDevice
from vdsm.storage.lvm import PV, VG


def lun(n: int) -> BlockDevice:
    return BlockDevice(guid=f"3600a0980{n:023d}", name=f"sd{n}", devnode=f"/dev/sd{n}",
                       capacity=2**30, vendor="NETAPP", product="LUN", fwrev="1",
                       serial=str(n), logical_block_size=512, physical_block_size=512,
                       discard_max_bytes=0, discard_zeroes_data=0, devtype="FCP",
                       paths=(), partitioned=False, holders=(), mounted=False)


class RecordingLVM:
    """PVs of VG "big" on LUNs 0-199, of VG "small" on LUNs 200-279;
    LUNs 280-299 are free."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def _vg_of(self, path: str) -> str:
        n = int(path.removeprefix("/dev/sd"))
        return "big" if n < 200 else "small" if n < 280 else ""

    def pvs(self, devices: Sequence[str]) -> list[PV]:
        self.calls.append(("pvs", len(devices)))
        return [PV(d, f"pv-{d}", 2**30, 0, self._vg_of(d), 8, 0, 2**30, 2**20,
                   1, 1, 2**20, 2**19) for d in devices if self._vg_of(d)]

    def vgs(self, devices: Sequence[str]) -> list[VG]:
        self.calls.append(("vgs", len(devices)))
        names = {self._vg_of(d) for d in devices}
        return [VG(name, f"uuid-{name}", 0, 0, 2**27, 0, 0, (), "wz--n-", 0, 0, 1,
                   0, tuple(d for d in devices if self._vg_of(d) == name))
                for name in sorted(names)]


def test_no_command_gets_more_devices_than_lvm_takes_and_vgs_are_whole():
    lvm = RecordingLVM()
    listing = Listing([lun(n) for n in range(300)], lvm)  # type: ignore[arg-type]
    assert all(count <= lvm_cmd.MAX_DEVICES for _, count in lvm.calls)
    assert sum(count for op, count in lvm.calls if op == "pvs") == 300
    # the two VGs together exceed the limit: one command each, never split
    assert [count for op, count in lvm.calls if op == "vgs"] == [200, 80]
    assert {vg.name: len(vg.pv_names) for vg in listing.vgs} == {"big": 200,
                                                                 "small": 80}
    assert listing.vg_by_uuid("uuid-big").name == "big"
    assert listing.pv_map()["/dev/sd5"] == ("pv-/dev/sd5", "uuid-big", 2**30)
