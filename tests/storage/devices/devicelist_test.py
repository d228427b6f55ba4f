"""getDeviceList entries of SCSI LUNs on a host this machine is not: a
sysfs tree (tests/storage/devices/fakesysfs.py) and udev properties with
the values a RHEL 8 host logged into a LIO (targetcli) iSCSI target over
two portals, and attached to a NetApp FC LUN, shows. Written by hand in
the kernel's formats (this machine has no SCSI disks); the real listing
is proven on loop devices in blockdev_test.
"""

from __future__ import annotations

import pytest

from tests.storage.devices.fakesysfs import FakeSysfs
from vdsm.storage.devices import blockdev, devicelist
from vdsm.storage.devices.udev import UdevDisk

GiB = 1024**3
MPATH = "36001405d2b6c5d2a2b14a6e9c5e8f1a7"
IQN = "iqn.2003-01.org.linux-iscsi.storage.x8664:sn.4c1ea0d9e0b5"
LIO = {"vendor": "LIO-ORG", "model": "lun1", "rev": "4.0",
       "wwid": f"naa.{MPATH[1:]}"}
FC_WWID = "naa.600a098038304437415d4b6a59684a52"


@pytest.fixture
def host(tmp_path) -> tuple[str, list[UdevDisk]]:
    fake = FakeSysfs(tmp_path)
    for n, (sd, dev, state) in enumerate([("sdb", "8:16", "running"),
                                          ("sdc", "8:32", "transport-offline")]):
        fake.disk(sd, size=20 * GiB, dev=dev, discard_max=4194304,
                  ancestry=f"platform/host{3 + n}/session{1 + n}/target{3 + n}:0:0/"
                           f"{3 + n}:0:0:1",
                  scsi={**LIO, "state": state})
        fake.iscsi_session(f"session{1 + n}", target=IQN, tpgt=1, iface="default",
                           address=f"192.0.2.{10 + n}", port=3260)
    fake.multipath("dm-2", MPATH, ["sdb", "sdc"], size=20 * GiB, dev="253:2")
    fake.disk("sdd", size=50 * GiB, dev="8:48", logical=512, physical=4096,
              ancestry="pci0000:00/0000:00:03.0/host5/rport-5:0-0/target5:0:0/5:0:0:7",
              scsi={"vendor": "NETAPP", "model": "LUN C-Mode", "rev": "9800",
                    "wwid": FC_WWID, "state": "running"})
    fake.disk("sde", size=10 * GiB, dev="8:64", ancestry="pci0000:00/host0/0:0:0:0",
              scsi={"vendor": "ATA", "model": "QEMU HARDDISK", "state": "running"})
    fake.partition("sde", "sde1")
    fake.device_mapper("dm-5", "LVM-abc", "vg-lv", [], size=GiB, dev="253:5")
    fake.disk("sr0", size=GiB, dev="11:0")
    udev = [UdevDisk("sdb", "/dev/sdb", {"ID_SERIAL": MPATH}),
            UdevDisk("sdc", "/dev/sdc", {"ID_SERIAL": MPATH}),
            UdevDisk("dm-2", "/dev/dm-2", {"DM_NAME": MPATH}),
            UdevDisk("sdd", "/dev/sdd", {}),  # no udevd: identity from sysfs
            UdevDisk("sde", "/dev/sde", {"ID_SERIAL": "QEMU_HARDDISK_QM00001",
                                         "ID_SERIAL_SHORT": "QM00001"}),
            UdevDisk("dm-5", "/dev/dm-5", {}), UdevDisk("sr0", "/dev/sr0", {}),
            UdevDisk("sdz", "/dev/sdz", {})]  # vanished before sysfs was read
    return str(tmp_path), udev


def listing(host, **kwargs) -> dict[str, dict]:
    root, udev = host
    devices = blockdev.list_devices(root=root, source=lambda: udev)
    return {e["GUID"]: e for e in devicelist.device_list(devices, root=root, **kwargs)}


def test_luns_only_paths_partitions_lvs_and_cdroms_left_out(host):
    assert sorted(listing(host, pvs={})) == sorted(
        [MPATH, "3" + FC_WWID[4:], "QEMU_HARDDISK_QM00001"])


def test_multipath_iscsi_lun_in_the_classic_shape(host):
    entry = listing(host, pvs={f"/dev/mapper/{MPATH}": ("pv-1", "vg-1", 21474836480)})[
        MPATH]
    assert {k: entry[k] for k in ("capacity", "devtype", "vendorID", "productID",
                                  "fwrev", "serial", "pvUUID", "vgUUID", "pvsize",
                                  "status", "discard_max_bytes")} == {
        "capacity": str(20 * GiB), "devtype": "iSCSI", "vendorID": "LIO-ORG",
        "productID": "lun1", "fwrev": "4.0", "serial": MPATH, "pvUUID": "pv-1",
        "vgUUID": "vg-1", "pvsize": "21474836480", "status": "used",
        "discard_max_bytes": 0}
    assert entry["pathstatus"] == [
        {"physdev": "sdb", "state": "active", "capacity": str(20 * GiB), "lun": "1",
         "type": "iSCSI"},
        {"physdev": "sdc", "state": "failed", "capacity": str(20 * GiB), "lun": "1",
         "type": "iSCSI"}]
    assert entry["pathlist"] == [
        {"connection": f"192.0.2.{10 + n}", "port": "3260", "iqn": IQN, "portal": "1",
         "initiatorname": "default"} for n in range(2)]


def test_fc_lun_identity_from_sysfs_wwid(host):
    entry = listing(host, pvs={})["3" + FC_WWID[4:]]
    assert (entry["devtype"], entry["vendorID"], entry["status"]) == (
        "FCP", "NETAPP", "free")
    assert (entry["logicalblocksize"], entry["physicalblocksize"]) == ("512", "4096")
    assert entry["pathstatus"][0]["lun"] == "7"
    assert entry["pathlist"] == []


def test_partitioned_disk_is_used(host):
    entry = listing(host, pvs={})["QEMU_HARDDISK_QM00001"]
    assert (entry["partitioned"], entry["status"], entry["serial"]) == (
        True, "used", "QM00001")


def test_filters_by_storage_type_guids_and_unchecked_status(host):
    assert list(listing(host, pvs={}, storage_type=devicelist.ISCSI_DOMAIN)) == [MPATH]
    assert list(listing(host, pvs={}, storage_type=devicelist.FCP_DOMAIN)) == [
        "3" + FC_WWID[4:]]
    answer = listing(host, pvs={}, guids=[MPATH], check_status=False)
    assert list(answer) == [MPATH] and answer[MPATH]["status"] == "unknown"


def test_mounted_device_is_used(host, tmp_path):
    root, udev = host
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("27 1 8:48 / /srv rw,relatime - xfs /dev/sdd rw\n")
    mounted = blockdev.mounted_devices(str(mountinfo))
    dev = blockdev.read_device(udev[3], root, mounted=mounted)
    assert dev.mounted and devicelist.status_of(dev, None) == "used"
