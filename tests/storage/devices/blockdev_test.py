"""The block device listing on this host's real udev and sysfs: loop
devices on sparse files stand in for LUNs (detached afterwards)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.storage.devices.fakesysfs import FakeSysfs
from tests.storage.helpers import loop_device, need_root
from vdsm.api import codes
from vdsm.storage.devices import blockdev, devicelist, sysfs, udev
from vdsm.storage.devices.errors import BlockDeviceActionError

MiB = 1024 * 1024


def by_node(devices: list[blockdev.BlockDevice]) -> dict[str, blockdev.BlockDevice]:
    return {d.devnode: d for d in devices}


@need_root
def test_loop_devices_listed_with_size_and_block_sizes():
    with loop_device(64) as small, loop_device(96, sector_size=4096) as big:
        listed = by_node(blockdev.list_devices(include_loop=True))
        assert small in listed and big in listed
        assert (listed[small].capacity, listed[small].logical_block_size) == (
            64 * MiB, 512)
        assert (listed[big].capacity, listed[big].logical_block_size,
                listed[big].physical_block_size) == (96 * MiB, 4096, 4096)
        assert listed[small].paths[0].state == "active"
        assert listed[small].devtype == sysfs.DEV_UNKNOWN
        # without the test option loop devices are no LUNs
        plain = by_node(blockdev.list_devices())
        assert small not in plain and big not in plain


@need_root
def test_pv_given_by_the_mapping_is_used_with_its_uuids():
    pv_uuid, vg_uuid = "Yk3N1D-aaaa-bbbb-cccc-dddd-eeee-ffffff", "q1w2e3-r4t5"
    with loop_device(64) as pv, loop_device(64) as spare:
        devices = [d for d in blockdev.list_devices(include_loop=True)
                   if d.devnode in (pv, spare)]
        entries = {e["pathstatus"][0]["physdev"]: e
                   for e in devicelist.device_list(devices, {pv: (pv_uuid, vg_uuid)})}
        used, free = entries[os.path.basename(pv)], entries[os.path.basename(spare)]
        assert (used["status"], used["pvUUID"], used["vgUUID"]) == (
            "used", pv_uuid, vg_uuid)
        assert (free["status"], free["pvUUID"], free["vgUUID"]) == ("free", "", "")
        assert free["capacity"] == str(64 * MiB)
        assert free["logicalblocksize"] == "512"
        # the one call the getDeviceList verb makes, asking for one GUID
        (entry,) = devicelist.host_device_list({pv: (pv_uuid, vg_uuid)},
                                               guids=[used["GUID"]], include_loop=True)
        assert (entry["GUID"], entry["status"]) == (used["GUID"], "used")


@need_root
def test_fake_tree_reads_like_real_sysfs(tmp_path):
    """The unit-test aid: a fake of a real loop device's attributes gives the
    same record as the real /sys does."""
    with loop_device(32, sector_size=4096) as node:
        name = os.path.basename(node)
        disk = udev.UdevDisk(name, node, {})
        real = blockdev.read_device(disk)
        fake = FakeSysfs(tmp_path)
        logical, physical = sysfs.block_sizes("/sys", name)
        fake.disk(name, size=sysfs.size("/sys", name),
                  dev=sysfs.read("/sys", name, "dev"), logical=logical,
                  physical=physical,
                  discard_max=sysfs.read_int("/sys", name, "queue/discard_max_bytes"))
        assert blockdev.read_device(disk, str(tmp_path)) == real


def test_pyudev_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyudev", None)  # import raises ImportError
    with pytest.raises(BlockDeviceActionError) as e:
        blockdev.list_devices()
    assert "python3-pyudev" in e.value.message
    assert codes.CODES[e.value.name][0] == 600
