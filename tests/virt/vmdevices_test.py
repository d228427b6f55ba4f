"""changeCD and disk/NIC hot(un)plug, checked in the live domain XML."""

from __future__ import annotations

import libvirt
import pytest

from vdsm.virt.domxml import metadata, parse

from .harness import BRIDGE, vm_params, wait_booted, wait_status
from .lifecycle_test import _create


def _live(agent, vm_id):
    conn = libvirt.open(agent.uri)
    try:
        return conn.lookupByUUIDString(vm_id).XMLDesc(0)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def running_vm(virt_agent, guest):
    params = vm_params(guest, drives=[{"device": "cdrom", "path": "",
                                       "iface": "ide", "index": 2}])
    _create(virt_agent, params)
    vm_id = params["vmId"]
    wait_status(virt_agent.proxy, vm_id, "Up")
    wait_booted(virt_agent, vm_id)
    yield vm_id
    virt_agent.proxy.destroy(vm_id)


def test_change_cd_and_eject(virt_agent, running_vm, tmp_path):
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"\0" * 65536)
    answer = virt_agent.proxy.changeCD(running_vm, str(iso))
    assert answer["status"]["code"] == 0, answer
    cds = [d for d in parse.disks(_live(virt_agent, running_vm))
           if d["device"] == "cdrom"]
    assert cds[0]["path"] == str(iso) and cds[0]["name"] == "hdc"
    drive = [d for d in answer["vmList"]["devices"] if d.get("device") == "cdrom"]
    assert drive[0]["path"] == str(iso)
    assert virt_agent.proxy.changeCD(running_vm, "")["status"]["code"] == 0
    cds = [d for d in parse.disks(_live(virt_agent, running_vm))
           if d["device"] == "cdrom"]
    assert cds[0]["path"] == ""
    missing = virt_agent.proxy.changeCD(running_vm, str(tmp_path / "none.iso"))
    assert missing["status"]["code"] == 13
    no_floppy = virt_agent.proxy.changeFloppy(running_vm, str(iso))
    assert no_floppy["status"]["code"] == 41


def test_hotplug_and_unplug_disk(virt_agent, running_vm, tmp_path):
    image = tmp_path / "hot.img"
    image.write_bytes(b"\0" * (1 << 20))
    drive = {"path": str(image), "format": "raw", "iface": "virtio"}
    answer = virt_agent.proxy.hotplugDisk({"vmId": running_vm, "drive": drive})
    assert answer["status"]["code"] == 0, answer
    disks = parse.disks(_live(virt_agent, running_vm))
    assert [d["name"] for d in disks if d["path"] == str(image)] == ["vda"]
    listed = virt_agent.proxy.list(True, [running_vm])["vmList"][0]
    assert any(d.get("path") == str(image) for d in listed["devices"])
    # ...and in the metadata recovery would read.
    conn = libvirt.open(virt_agent.uri)
    try:
        text = conn.lookupByUUIDString(running_vm).metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata.NAMESPACE, 0)
    finally:
        conn.close()
    assert str(image) in text

    answer = virt_agent.proxy.hotunplugDisk({"vmId": running_vm,
                                             "drive": {"path": str(image)}})
    assert answer["status"]["code"] == 0, answer
    assert all(d["path"] != str(image)
               for d in parse.disks(_live(virt_agent, running_vm)))
    again = virt_agent.proxy.hotunplugDisk({"vmId": running_vm,
                                            "drive": {"path": str(image)}})
    assert again["status"]["code"] == 46


def test_hotplug_and_unplug_nic(virt_agent, running_vm):
    mac = "00:1a:4a:00:20:01"
    nic = {"bridge": BRIDGE, "macAddr": mac, "nicModel": "virtio"}
    answer = virt_agent.proxy.hotplugNic({"vmId": running_vm, "nic": nic})
    assert answer["status"]["code"] == 0, answer
    nics = parse.interfaces(_live(virt_agent, running_vm))
    assert [(n["macAddr"], n["network"]) for n in nics] == [(mac, BRIDGE)]
    dup = virt_agent.proxy.hotplugNic({"vmId": running_vm, "nic": nic})
    assert dup["status"]["code"] == 49
    answer = virt_agent.proxy.hotunplugNic({"vmId": running_vm,
                                            "nic": {"macAddr": mac}})
    assert answer["status"]["code"] == 0, answer
    assert parse.interfaces(_live(virt_agent, running_vm)) == []


def test_hotplug_on_missing_bridge_fails_cleanly(virt_agent, running_vm):
    nic = {"bridge": "nosuchbr9", "macAddr": "00:1a:4a:00:20:02"}
    answer = virt_agent.proxy.hotplugNic({"vmId": running_vm, "nic": nic})
    assert answer["status"]["code"] == 49
    listed = virt_agent.proxy.list(True, [running_vm])["vmList"][0]
    assert not any(d["type"] == "interface" for d in listed["devices"])
