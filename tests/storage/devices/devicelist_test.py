"""getDeviceList entries of SCSI LUNs on the fake SAN host of conftest.py
(iSCSI multipath map, FC LUN, partitioned disk, LV, CD-ROM)."""

from __future__ import annotations

import os

from tests.storage.devices.conftest import FC_WWID, IQN, MPATH, GiB
from vdsm.storage.devices import blockdev, devicelist


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


def test_device_unreadable_mid_listing_is_left_out_with_a_log_line(host, caplog):
    root, udev = host
    attr = f"{root}/block/sdd/queue/discard_max_bytes"
    os.unlink(attr)
    os.mkdir(attr)  # reading it now fails as a vanishing device's node does
    assert "3" + FC_WWID[4:] not in listing(host, pvs={})
    assert "block device sdd left out" in caplog.text


def test_pv_of_no_vg_is_free_and_pv_of_a_vg_used(host):
    """A PV left by a removed VG (removeVG keeps the label) may be taken by
    createVG again, as the classic pvcreate test found; a PV of a VG not."""
    orphan = listing(host, pvs={"/dev/sdd": ("pv-1", "", 50 * GiB)})
    assert (orphan["3" + FC_WWID[4:]]["status"],
            orphan["3" + FC_WWID[4:]]["pvUUID"]) == ("free", "pv-1")
    member = listing(host, pvs={"/dev/sdd": ("pv-1", "vg-1", 50 * GiB)})
    assert member["3" + FC_WWID[4:]]["status"] == "used"
