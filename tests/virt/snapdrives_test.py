"""Matching snapDrives entries to a VM's drives; the chain after it."""

from __future__ import annotations

import pytest

from vdsm.common.errors import InvalidParameter
from vdsm.virt import snapdrives
from vdsm.virt.errors import SnapshotFailed


def _disk(name: str, img: str, vol: str) -> dict:
    return {"type": "disk", "device": "disk", "name": name, "domainID": "sd",
            "poolID": "sp", "imageID": img, "volumeID": vol,
            "path": f"/sd/{img}/{vol}", "format": "raw"}


def _devices() -> list[dict]:
    return [_disk("vda", "img1", "v1"), _disk("vdb", "img2", "w1"),
            {"type": "disk", "device": "cdrom", "name": "hdc", "path": ""},
            {"type": "interface", "macAddr": "00:1a:4a:00:00:01"}]


def _entry(img: str, base: str, new: str, **extra: str) -> dict:
    return dict({"domainID": "sd", "imageID": img, "baseVolumeID": base,
                 "volumeID": new}, **extra)


def test_plan_finds_each_drive_and_keeps_the_order():
    devices = _devices()
    targets = snapdrives.plan(devices, [_entry("img2", "w1", "w2"),
                                        _entry("img1", "v1", "v2", name="vda")])
    assert [(t.drive["name"], t.new_volume) for t in targets] == \
        [("vdb", "w2"), ("vda", "v2")]
    assert targets[1].new_drive() == dict(devices[0], volumeID="v2")


def test_a_retried_entry_already_taken_is_skipped():
    devices = _devices()
    devices[0]["volumeID"] = "v2"
    assert snapdrives.plan(devices, [_entry("img1", "v1", "v2")]) == []


@pytest.mark.parametrize("snap_drives", [
    [], None, "vda", ["vda"], [{"domainID": "sd", "imageID": "img1"}],
    [_entry("img1", "v1", "v2"), _entry("img1", "v1", "v3")],
], ids=["empty", "none", "string", "not-a-struct", "missing-keys", "twice"])
def test_malformed_snap_drives_are_invalid(snap_drives):
    with pytest.raises(InvalidParameter):
        snapdrives.plan(_devices(), snap_drives)


@pytest.mark.parametrize("entry", [
    _entry("img9", "v1", "v2"),                 # no drive on that image
    _entry("img1", "v1", "v2", name="vdb"),     # the name is another drive's
    _entry("img1", "v0", "v2"),                 # not the current volume
], ids=["image", "name", "base"])
def test_an_entry_not_matching_the_vm_fails_the_snapshot(entry):
    with pytest.raises(SnapshotFailed):
        snapdrives.plan(_devices(), [entry])


def test_advance_appends_the_leaf_to_the_chain_base_first():
    devices = _devices()
    for new in ("v2", "v3"):
        target = snapdrives.plan(devices, [_entry("img1", devices[0]["volumeID"],
                                                  new)])[0]
        target.path = f"/sd/img1/{new}"
        snapdrives.advance(target)
    drive = devices[0]
    assert (drive["volumeID"], drive["path"], drive["format"]) == \
        ("v3", "/sd/img1/v3", "cow")
    assert drive["volumeChain"] == [
        {"domainID": "sd", "imageID": "img1", "volumeID": v,
         "path": f"/sd/img1/{v}"} for v in ("v1", "v2", "v3")]
    assert snapdrives.stats_ids(devices) == {
        "vda": {"domainID": "sd", "imageID": "img1", "volumeID": "v3"},
        "vdb": {"domainID": "sd", "imageID": "img2", "volumeID": "w1"}}
