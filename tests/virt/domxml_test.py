"""Domain XML builders against literal XML, and reading live XML back."""

from __future__ import annotations

import os
import re

import pytest
from lxml import etree

from vdsm.virt import vmparams
from vdsm.virt.domxml import disks, domain, graphics, metadata, nics, parse

VM_ID = "11111111-2222-3333-4444-555555555555"

PARAMS = {
    "vmId": VM_ID, "vmName": "t1", "memSize": "128", "smp": "2",
    "smpCoresPerSocket": "2", "cpuType": "qemu64,+sse2,-vmx",
    "emulatedMachine": "pc", "boot": "cd", "timeOffset": "3600",
    "display": "vnc", "displayIp": "127.0.0.1", "keyboardLayout": "en-us",
    "drives": [{"path": "/var/tmp/d.img", "format": "cow", "deviceId": "d1"},
               {"device": "cdrom", "path": "", "deviceId": "c1"}],
    "nics": [{"bridge": "br0", "macAddr": "00:1A:4A:00:00:01",
              "nicModel": "pv", "deviceId": "n1"}],
    "custom": {"a": "b"},
}

EXPECTED = """
<domain type="qemu">
  <name>t1</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <metadata>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:conf>{"x": 1}</ovirt-vm:conf>
      <ovirt-vm:startTime>1000.000</ovirt-vm:startTime>
    </ovirt-vm:vm>
  </metadata>
  <memory unit="KiB">131072</memory>
  <currentMemory unit="KiB">131072</currentMemory>
  <vcpu placement="static">2</vcpu>
  <os>
    <type arch="x86_64" machine="pc">hvm</type>
    <boot dev="hd"/>
    <boot dev="cdrom"/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode="custom" match="exact">
    <model fallback="allow">qemu64</model>
    <feature name="sse2" policy="require"/>
    <feature name="vmx" policy="disable"/>
    <topology sockets="1" cores="2" threads="1"/>
  </cpu>
  <clock offset="variable" adjustment="3600" basis="utc">
    <timer name="rtc" tickpolicy="catchup"/>
    <timer name="pit" tickpolicy="delay"/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type="file" device="disk" snapshot="no">
      <driver name="qemu" type="qcow2" cache="none" error_policy="stop"
              io="threads"/>
      <source file="/var/tmp/d.img"/>
      <target dev="vda" bus="virtio"/>
      <alias name="ua-d1"/>
    </disk>
    <disk type="file" device="cdrom" snapshot="no">
      <driver name="qemu" type="raw"/>
      <target dev="hda" bus="ide"/>
      <readonly/>
      <alias name="ua-c1"/>
    </disk>
    <interface type="bridge">
      <mac address="00:1a:4a:00:00:01"/>
      <source bridge="br0"/>
      <model type="virtio"/>
      <alias name="ua-n1"/>
    </interface>
    <controller type="virtio-serial" index="0"/>
    <channel type="unix">
      <target type="virtio" name="ovirt-guest-agent.0"/>
    </channel>
    <channel type="unix">
      <target type="virtio" name="org.qemu.guest_agent.0"/>
    </channel>
    <serial type="pty">
      <log file="/var/log/c/11111111-2222-3333-4444-555555555555.log" append="on"/>
      <target port="0"/>
    </serial>
    <console type="pty">
      <target type="serial" port="0"/>
    </console>
    <input type="tablet" bus="usb"/>
    <graphics type="vnc" port="-1" autoport="yes" passwd="X"
              passwdValidTo="1970-01-01T00:00:01" keymap="en-us">
      <listen type="address" address="127.0.0.1"/>
    </graphics>
    <video>
      <model type="vga" heads="1" vram="16384"/>
    </video>
    <memballoon model="virtio">
      <stats period="5"/>
    </memballoon>
  </devices>
</domain>
"""


def _norm(xml: str) -> str:
    """Whitespace-insensitive form (the literal wraps long tags)."""
    xml = re.sub(r'passwd="[0-9a-f]+"', 'passwd="X"', xml)
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", xml)).strip()


def test_whole_domain_matches_literal_xml():
    vmdef = vmparams.parse(PARAMS)
    options = domain.HostOptions(domain_type="qemu",
                                 console_log_dir="/var/log/c")
    xml = domain.build(vmdef, options, start_time=1000.0, conf={"x": 1})
    assert _norm(xml) == _norm(EXPECTED)


def test_kvm_only_when_host_and_vm_allow_it():
    vmdef = vmparams.parse(dict(PARAMS))
    assert domain.domain_type(vmdef, domain.HostOptions("kvm")) == "kvm"
    assert domain.domain_type(vmdef, domain.HostOptions("qemu")) == "qemu"
    no_kvm = vmparams.parse(dict(PARAMS, kvmEnable="false"))
    assert domain.domain_type(no_kvm, domain.HostOptions("kvm")) == "qemu"


def test_kernel_boot_and_no_cpu_element():
    vmdef = vmparams.parse({"vmId": VM_ID, "memSize": 64, "kernel": "/k",
                            "initrd": "/i", "kernelArgs": "console=ttyS0",
                            "boot": "c"})
    root = etree.fromstring(domain.build(vmdef, domain.HostOptions("qemu"),
                                         start_time=0).encode())
    assert root.findtext("os/kernel") == "/k"
    assert root.findtext("os/initrd") == "/i"
    assert root.findtext("os/cmdline") == "console=ttyS0"
    assert root.find("os/boot") is None      # kernel boot wins
    assert root.find("cpu") is None
    assert root.find("devices/serial/log") is None


def _text(el) -> str:
    return etree.tostring(el, encoding="unicode")


def test_disk_block_device_with_errors_propagated():
    disk = {"type": "disk", "device": "disk", "iface": "scsi",
            "path": "/dev/vg/lv", "format": "raw", "readonly": True,
            "propagateErrors": "on", "name": "sdb", "serial": "S1",
            "bootOrder": 2, "deviceId": "x"}
    assert _text(disks.element_for(disk)) == (
        '<disk type="block" device="disk" snapshot="no">'
        '<driver name="qemu" type="raw" cache="none" error_policy="enospace" '
        'io="native"/><source dev="/dev/vg/lv"/><target dev="sdb" bus="scsi"/>'
        '<serial>S1</serial><boot order="2"/><readonly/><alias name="ua-x"/>'
        '</disk>')


def test_disk_with_discard_passes_it_to_the_image():
    disk = {"type": "disk", "device": "disk", "iface": "virtio",
            "path": "/no/such/img", "format": "raw", "propagateErrors": "off",
            "name": "vda", "discard": True, "deviceId": "x"}
    assert _text(disks.element_for(disk)) == (
        '<disk type="file" device="disk" snapshot="no">'
        '<driver name="qemu" type="raw" cache="none" error_policy="stop" '
        'io="threads" discard="unmap"/><source file="/no/such/img"/>'
        '<target dev="vda" bus="virtio"/><alias name="ua-x"/></disk>')


def test_disk_type_follows_the_prepared_path_not_the_wire(tmp_path):
    # a block volume (diskType block) whose LV is served as a file (tests,
    # lvfiles) is a file disk; a block device node is a block disk
    image = tmp_path / "lv"
    image.write_bytes(b"")
    disk = {"type": "disk", "device": "disk", "iface": "virtio",
            "path": str(image), "format": "cow", "diskType": "block",
            "propagateErrors": "off", "name": "vdb", "deviceId": "v"}
    root = disks.element_for(disk)
    assert root.get("type") == "file"
    assert root.find("source").get("file") == str(image)
    assert root.find("driver").get("io") == "threads"
    if os.path.isdir("/dev/shm"):         # a file under /dev is no device
        under_dev = f"/dev/shm/vdsm-domxml-{os.getpid()}"
        open(under_dev, "wb").close()
        try:
            assert disks.element_for(dict(disk, path=under_dev)).get("type") == "file"
        finally:
            os.unlink(under_dev)
    loops = sorted(n for n in os.listdir("/dev") if re.fullmatch(r"loop\d+", n))
    if not loops:
        pytest.skip("no loop device node here to stand for a block device")
    root = disks.element_for(dict(disk, path=f"/dev/{loops[0]}"))
    assert root.get("type") == "block"
    assert root.find("source").get("dev") == f"/dev/{loops[0]}"


def test_media_change_has_no_boot_order():
    cd = {"type": "disk", "device": "cdrom", "iface": "ide", "path": "",
          "format": "raw", "readonly": True, "propagateErrors": "off",
          "name": "hdc", "bootOrder": 1, "deviceId": "c"}
    assert _text(disks.media_change(cd, "/iso/a.iso")) == (
        '<disk type="file" device="cdrom" snapshot="no"><driver name="qemu" '
        'type="raw"/><source file="/iso/a.iso"/><target dev="hdc" bus="ide"/>'
        '<readonly/><alias name="ua-c"/></disk>')


def test_network_nic():
    nic = {"type": "interface", "device": "network", "network": "default",
           "macAddr": "00:1a:4a:00:00:02", "nicModel": "e1000",
           "deviceId": "n"}
    assert _text(nics.element_for(nic)) == (
        '<interface type="network"><mac address="00:1a:4a:00:00:02"/>'
        '<source network="default"/><model type="e1000"/>'
        '<alias name="ua-n"/></interface>')


def test_ticket_with_and_without_expiry():
    g = {"type": "graphics", "device": "spice", "port": -1, "tlsPort": -1,
         "listen": "0"}
    el = graphics.ticket(g, "pw", 0, "keep")
    assert el.get("passwd") == "pw" and "passwdValidTo" not in el.attrib
    assert el.get("port") == "-1" and el.get("autoport") == "yes"
    assert el.get("connected") == "keep"
    vnc = graphics.ticket(dict(g, device="vnc"), "pw", 0, "disconnect")
    assert "connected" not in vnc.attrib
    el = graphics.ticket(g, "pw", 120, "disconnect")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", el.get("passwdValidTo"))


def test_metadata_round_trip():
    node = metadata.element_for({"vmId": VM_ID, "memSize": 64},
                                start_time=12.5)
    text = _text(node)
    assert metadata.read(text) == {"conf": {"vmId": VM_ID, "memSize": 64},
                                   "startTime": 12.5}
    whole = f"<domain><metadata>{text}</metadata></domain>"
    assert metadata.read(whole)["conf"]["memSize"] == 64
    assert metadata.read("<domain><metadata/></domain>") is None
    # As virDomainGetMetadata returns it: no namespace.
    bare = '<vm><conf>{"a": 1}</conf><startTime>3.0</startTime></vm>'
    assert metadata.read(bare) == {"conf": {"a": 1}, "startTime": 3.0}


LIVE = """<domain><devices>
<disk type='file' device='disk'><source file='/a.img'/>
  <target dev='vda' bus='virtio'/><alias name='ua-d1'/></disk>
<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
<interface type='bridge'><mac address='00:1a:4a:00:00:01'/>
  <source bridge='br0'/><target dev='vnet3'/><model type='virtio'/>
  <alias name='ua-n1'/></interface>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'
  state='connected'/></channel>
<graphics type='vnc' port='5901' autoport='yes'>
  <listen type='address' address='127.0.0.1'/></graphics>
</devices></domain>"""


def test_parse_live_xml():
    assert parse.disks(LIVE) == [
        {"device": "disk", "path": "/a.img", "name": "vda", "iface": "virtio",
         "alias": "ua-d1", "readonly": False},
        {"device": "cdrom", "path": "", "name": "hdc", "iface": "ide",
         "alias": None, "readonly": True}]
    assert parse.interfaces(LIVE) == [
        {"macAddr": "00:1a:4a:00:00:01", "name": "vnet3", "network": "br0",
         "nicModel": "virtio", "alias": "ua-n1"}]
    assert parse.graphics(LIVE) == [
        {"type": "vnc", "port": 5901, "tlsPort": -1, "listen": "127.0.0.1"}]
    assert parse.agent_connected(LIVE, "org.qemu.guest_agent.0")
    assert not parse.agent_connected(LIVE, "com.redhat.rhevm.vdsm")


def test_ovirt_agent_channel_socket_in_the_channel_dir():
    vmdef = vmparams.parse({"vmId": VM_ID, "memSize": 64})
    for channel_dir, expected in (
            ("/run/ch", f"/run/ch/{VM_ID}.ovirt-guest-agent.0"), (None, None)):
        xml = domain.build(vmdef, domain.HostOptions(
            "qemu", channel_dir=channel_dir), start_time=0)
        assert parse.channel_path(xml, "ovirt-guest-agent.0") == expected
        # qemu-guest-agent's socket is libvirt's to name, always
        assert parse.channel_path(xml, "org.qemu.guest_agent.0") is None
    # a definition with the channel's older name gets its socket there too
    old = vmparams.parse({"vmId": VM_ID, "memSize": 64, "devices": [
        {"type": "channel", "device": "unix", "name": "com.redhat.rhevm.vdsm"}]})
    xml = domain.build(old, domain.HostOptions("qemu", channel_dir="/run/ch"),
                       start_time=0)
    assert parse.channel_path(xml, "com.redhat.rhevm.vdsm") == \
        f"/run/ch/{VM_ID}.com.redhat.rhevm.vdsm"
