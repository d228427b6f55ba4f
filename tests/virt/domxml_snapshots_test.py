"""The snapshot and restore XML builders against literal XML."""

from __future__ import annotations

import json

from lxml import etree

from vdsm.virt.domxml import metadata, restored, snapshots
from vdsm.virt.domxml.base import to_string


def _canon(xml: str) -> str:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml.encode(), parser),
                          encoding="unicode")


def test_disk_only_snapshot_names_every_disk():
    root = snapshots.element_for(
        [snapshots.NewLayer("vda", "/img/a/leaf"),
         snapshots.NewLayer("vdb", "/dev/vg/leaf", block=True)], ["hdc"])
    assert _canon(to_string(root)) == _canon("""
        <domainsnapshot>
          <disks>
            <disk name="vda" snapshot="external" type="file">
              <source file="/img/a/leaf"/><driver type="qcow2"/>
            </disk>
            <disk name="vdb" snapshot="external" type="block">
              <source dev="/dev/vg/leaf"/><driver type="qcow2"/>
            </disk>
            <disk name="hdc" snapshot="no"/>
          </disks>
          <memory snapshot="no"/>
        </domainsnapshot>""")


def test_memory_snapshot_saves_to_the_memory_volume():
    root = snapshots.element_for([snapshots.NewLayer("vda", "/a")], [],
                                 memory_path="/img/m/vol")
    assert root.find("memory").attrib == {"snapshot": "external",
                                          "file": "/img/m/vol"}


SAVED = """<domain type="qemu">
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:conf>{"vmId": "x", "v": 1}</ovirt-vm:conf>
      <ovirt-vm:startTime>1000.000</ovirt-vm:startTime>
    </ovirt-vm:vm>
  </metadata>
  <devices>
    <disk type="file" device="disk">
      <source file="/img/a/leaf2"/>
      <backingStore type="file"><source file="/img/a/base"/></backingStore>
      <target dev="vda" bus="virtio"/>
    </disk>
    <disk type="file" device="cdrom"><target dev="hdc" bus="ide"/></disk>
  </devices>
</domain>"""


def test_restore_xml_takes_the_new_drives_and_drops_the_saved_chain():
    devices = [{"type": "disk", "name": "vda", "path": "/img/a/preview"},
               {"type": "disk", "name": "hdc", "path": ""}]
    conf = {"vmId": "x", "v": 2}
    xml = restored.for_vm(SAVED, devices, conf, start_time=1000.0)
    root = etree.fromstring(xml.encode())
    disk = root.find("devices/disk")
    assert disk.find("source").get("file") == "/img/a/preview"
    assert disk.find("backingStore") is None
    assert root.find("devices/disk[@device='cdrom']/source") is None
    saved = metadata.read(xml)
    assert saved == {"conf": conf, "startTime": 1000.0}


def test_restore_xml_untouched_when_the_vm_is_the_saved_one():
    devices = [{"type": "disk", "name": "vda", "path": "/img/a/leaf2"}]
    conf = json.loads('{"vmId": "x", "v": 1}')
    assert restored.for_vm(SAVED, devices, conf, start_time=1000.0) is SAVED
