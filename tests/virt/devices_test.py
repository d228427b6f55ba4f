"""Device normalization from both classic shapes (pure)."""

from __future__ import annotations

import pytest

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.virt import devices


def _kinds(devs):
    return [(d["type"], d.get("device")) for d in devs]


def test_classic_keys():
    devs = devices.from_params({
        "drives": [{"path": "/a", "iface": "ide"}, {"path": "/b"},
                   {"device": "cdrom", "path": ""}],
        "nics": [{"bridge": "br0", "macAddr": "00:1A:4A:00:00:01"}],
        "display": "qxl", "displayPort": "5900", "balloon": "none"})
    assert _kinds(devs) == [
        ("disk", "disk"), ("disk", "disk"), ("disk", "cdrom"),
        ("interface", "bridge"), ("graphics", "spice"), ("video", "qxl"),
        ("balloon", "memballoon"), ("channel", "unix"), ("channel", "unix"),
        ("console", "console")]
    assert [d["name"] for d in devs[:3]] == ["hda", "vda", "hdb"]
    assert devs[2]["readonly"] is True and devs[0]["readonly"] is False
    assert devs[3]["macAddr"] == "00:1a:4a:00:00:01"
    assert devs[4]["port"] == 5900 and devs[4]["tlsPort"] == -1
    assert devs[6]["specParams"] == {"model": "none"}


def test_devices_list_wins_over_classic_keys():
    devs = devices.from_params({
        "drives": [{"path": "/ignored"}],
        "devices": [{"type": "disk", "device": "disk", "path": "/a",
                     "index": 2},
                    {"type": "sound", "device": "ich6"},
                    {"type": "balloon", "device": "memballoon",
                     "specParams": {"model": "virtio"}}]})
    disks = [d for d in devs if d["type"] == "disk"]
    assert [(d["path"], d["name"]) for d in disks] == [("/a", "vdc")]
    assert not any(d["type"] == "sound" for d in devs)   # unsupported: skipped


def test_2011_comma_separated_nics():
    devs = devices.from_params({"macAddr": "00:1a:4a:00:00:01,00:1a:4a:00:00:02",
                                "bridge": "br0", "nicModel": "rtl8139,pv"})
    nics = [d for d in devs if d["type"] == "interface"]
    assert [(n["macAddr"], n["network"], n["nicModel"]) for n in nics] == [
        ("00:1a:4a:00:00:01", "br0", "rtl8139"),
        ("00:1a:4a:00:00:02", "br0", "virtio")]


def test_volume_drive_and_generated_mac():
    disk = devices.normalize_disk({"domainID": "d", "poolID": "p",
                                   "imageID": "i", "volumeID": "v"})
    assert disk["path"] == "" and disk["volumeID"] == "v"
    nic = devices.normalize_nic({"bridge": "br0"})
    assert nic["macAddr"].startswith("00:1a:4a:")


@pytest.mark.parametrize("value, kept", [
    (True, True), ("true", True), (False, False), (None, False)])
def test_drive_discard(value, kept):
    disk = devices.normalize_disk({"path": "/a", "discard": value})
    assert disk.get("discard", False) is kept


@pytest.mark.parametrize("spec, error", [
    ({"format": "raw"}, MissingParameter),
    ({"path": "/a", "format": "vmdk"}, InvalidParameter),
    ({"path": "/a", "iface": "nvme"}, InvalidParameter),
    ({"path": "/a", "device": "tape"}, InvalidParameter),
    ({"domainID": "d", "poolID": "p"}, MissingParameter),
    ({"path": "/a", "index": 99}, InvalidParameter),
    ({"path": "/a", "propagateErrors": "maybe"}, InvalidParameter),
])
def test_bad_drives(spec, error):
    with pytest.raises(error):
        devices.normalize_disk(spec)


def test_bad_nics_and_duplicate_index():
    with pytest.raises(MissingParameter):
        devices.normalize_nic({"macAddr": "00:1a:4a:00:00:01"})
    with pytest.raises(InvalidParameter):
        devices.normalize_nic({"bridge": "b", "macAddr": "zz"})
    with pytest.raises(InvalidParameter):
        devices.normalize_nic({"bridge": "b", "nicModel": "ne2k"})
    with pytest.raises(InvalidParameter):
        devices.from_params({"drives": [{"path": "/a", "index": 0},
                                        {"path": "/b", "index": 0}]})


def test_guest_agent_channel_added_beside_given_channels():
    devs = devices.from_params({"devices": [
        {"type": "channel", "device": "unix", "name": "org.example.0"}]})
    names = [d["name"] for d in devs if d["type"] == "channel"]
    assert names == ["org.example.0", devices.GUEST_AGENT_CHANNEL]


def test_given_guest_agent_channel_not_doubled():
    devs = devices.from_params({"devices": [
        {"type": "channel", "device": "unix",
         "name": devices.GUEST_AGENT_CHANNEL}]})
    assert [d["name"] for d in devs if d["type"] == "channel"] == [
        devices.GUEST_AGENT_CHANNEL]
