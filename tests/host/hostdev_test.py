"""Host devices on recorded libvirt node device XML (tests/host/data/hostdev:
recorded on a project machine, plus marked samples of what it lacks: SR-IOV,
USB, SCSI, a bridge). The listing against a real libvirtd, and what this
kernel allows of the rest, is in tests/virt/hostdev_test.py."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from vdsm.common.errors import HostdevDetachFailed, InvalidParameter
from vdsm.host.hostdev import domxml, nodedev, sriov
from vdsm.host.hostdev.service import HostdevService

DATA = os.path.join(os.path.dirname(__file__), "data", "hostdev")


def _xml(name: str) -> str:
    for prefix in ("", "sample_"):
        path = os.path.join(DATA, f"{prefix}{name}.xml")
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    raise FileNotFoundError(name)


def _parse(name: str, sysfs: str = "/nonexistent") -> dict[str, Any]:
    parsed_name, params = nodedev.parse(_xml(name), sysfs=sysfs)
    assert parsed_name == name
    return params


def test_recorded_pci_device():
    assert _parse("pci_0000_00_01_0") == {
        "capability": "pci", "is_assignable": "true", "parent": "computer",
        "driver": "virtio-pci", "product_id": "0x1045",
        "product": "Virtio 1.0 memory balloon", "vendor_id": "0x1af4",
        "vendor": "Red Hat, Inc.",
        "address": {"domain": "0", "bus": "0", "slot": "1", "function": "0"}}


def test_recorded_net_storage_and_computer():
    net = _parse("net_lo_00_00_00_00_00_00")
    assert net == {"capability": "net", "is_assignable": "true",
                   "parent": "computer", "interface": "lo"}
    assert _parse("block_vda")["block_path"] == "/dev/vda"
    assert _parse("computer") == {"capability": "system",
                                  "is_assignable": "true"}


def test_sriov_pf_and_vf_samples():
    pf = _parse("pci_0000_05_00_0")
    assert (pf["totalvfs"], pf["iommu_group"], pf["numa_node"],
            pf["driver"]) == (63, "15", "0", "ixgbe")
    vf = _parse("pci_0000_05_10_0")
    assert vf["physfn"] == "pci_0000_05_00_0"
    assert vf["iommu_group"] == "40" and "totalvfs" not in vf


def test_bridge_is_not_assignable():
    assert _parse("pci_0000_00_1c_0")["is_assignable"] == "false"


def test_header_type_from_sysfs_decides_assignability(tmp_path):
    device = tmp_path / "bus/pci/devices/0000:00:01.0"
    device.mkdir(parents=True)
    config = bytearray(64)
    config[0x0E] = 0x81          # multifunction bit + type 1 (bridge)
    (device / "config").write_bytes(bytes(config))
    (device / "sriov_totalvfs").write_text("7\n")
    params = _parse("pci_0000_00_01_0", sysfs=str(tmp_path))
    assert params["is_assignable"] == "false" and params["totalvfs"] == 7
    config[0x0E] = 0x80          # multifunction endpoint
    (device / "config").write_bytes(bytes(config))
    assert _parse("pci_0000_00_01_0", sysfs=str(tmp_path))["is_assignable"] == "true"


def test_usb_and_scsi_samples():
    usb = _parse("usb_1_1")
    assert usb["address"] == {"bus": "1", "device": "2"}
    assert (usb["vendor"], usb["product_id"]) == ("SanDisk Corp.", "0x5591")
    scsi = _parse("scsi_2_0_0_0")
    assert scsi["address"] == {"host": "2", "bus": "0", "target": "0",
                               "lun": "0"}
    assert _parse("scsi_generic_sg0")["udev_path"] == "/dev/sg0"


def test_pci_names():
    assert nodedev.pci_path("pci_0000_05_10_1") == "0000:05:10.1"
    assert nodedev.pci_name("0x0000", "0x05", "0x10", "0x1") == "pci_0000_05_10_1"
    with pytest.raises(ValueError):
        nodedev.pci_path("usb_1_1")


# --- the service over a connection serving the recorded XML (a fake beside
# the real libvirtd test in tests/virt/hostdev_test.py) ----------------------
class _Dev:
    def __init__(self, name: str) -> None:
        self._name = name
        self.calls: list[str] = []

    def XMLDesc(self, flags: int = 0) -> str:  # noqa: N802 - libvirt's name
        return _xml(self._name)

    def detachFlags(self, driver: Any, flags: int) -> None:  # noqa: N802
        self.calls.append("detach")

    def reAttach(self) -> None:  # noqa: N802
        self.calls.append("reattach")


class _Conn:
    NAMES = ("computer", "pci_0000_00_01_0", "pci_0000_05_00_0",
             "pci_0000_05_10_0", "usb_1_1", "scsi_2_0_0_0", "scsi_generic_sg0")

    def __init__(self) -> None:
        self.devs = {n: _Dev(n) for n in self.NAMES}

    def listAllDevices(self, flags: int) -> list[_Dev]:  # noqa: N802
        return list(self.devs.values())

    def nodeDeviceLookupByName(self, name: str) -> _Dev:  # noqa: N802
        import libvirt
        if name not in self.devs:
            raise libvirt.libvirtError(f"no device {name}")
        return self.devs[name]


class _Supervdsm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, op: str, /, **args: Any) -> Any:
        self.calls.append((op, args))


@pytest.fixture
def iommu_sysfs(tmp_path):
    (tmp_path / "kernel/iommu_groups/15").mkdir(parents=True)
    return str(tmp_path)


def test_list_by_caps_filters_and_fills_scsi_from_children():
    svc = HostdevService(_Conn, supervdsm=_Supervdsm(), sysfs="/nonexistent")
    every = svc.list_by_caps()
    assert set(every) == set(_Conn.NAMES)
    assert every["scsi_2_0_0_0"]["params"]["udev_path"] == "/dev/sg0"
    only = svc.list_by_caps(["usb_device", "scsi"])
    assert set(only) == {"usb_1_1", "scsi_2_0_0_0"}


def test_change_numvfs_checks_then_asks_supervdsm():
    sup = _Supervdsm()
    svc = HostdevService(_Conn, supervdsm=sup, sysfs="/nonexistent")
    svc.change_numvfs("pci_0000_05_00_0", 8)
    assert sup.calls == [("set_sriov_numvfs", {"pci_address": "0000:05:00.0",
                                               "numvfs": 8})]
    for name, count, why in (("pci_0000_05_00_0", 64, "totalvfs 63"),
                             ("pci_0000_05_00_0", -1, "from 0"),
                             ("pci_0000_05_10_0", 1, "not a PCI physical"),
                             ("pci_0000_00_01_0", 1, "does not support"),
                             ("usb_1_1", 1, "not a PCI physical"),
                             ("pci_0000_99_00_0", 1, "no host device")):
        with pytest.raises(InvalidParameter, match=why):
            svc.change_numvfs(name, count)
    assert len(sup.calls) == 1


def test_detach_needs_an_iommu(iommu_sysfs):
    conn = _Conn()
    svc = HostdevService(lambda: conn, supervdsm=_Supervdsm(),
                         sysfs="/nonexistent")
    with pytest.raises(HostdevDetachFailed, match="no IOMMU"):
        svc.detach("pci_0000_05_10_0")
    assert conn.devs["pci_0000_05_10_0"].calls == []
    svc = HostdevService(lambda: conn, supervdsm=_Supervdsm(),
                         sysfs=iommu_sysfs)
    svc.detach("pci_0000_05_10_0")
    svc.detach("usb_1_1")       # nothing to detach for USB
    assert conn.devs["pci_0000_05_10_0"].calls == ["detach"]
    assert conn.devs["usb_1_1"].calls == []


def test_reattach_leaves_a_device_with_its_host_driver_alone():
    conn = _Conn()
    svc = HostdevService(lambda: conn, supervdsm=_Supervdsm())
    svc.reattach("pci_0000_05_10_0")      # ixgbevf: not a stub driver
    assert conn.devs["pci_0000_05_10_0"].calls == []


# --- sysfs write (what the supervdsm op runs) --------------------------------
def test_write_numvfs_goes_through_zero(tmp_path):
    (tmp_path / "sriov_totalvfs").write_text("8\n")
    (tmp_path / "sriov_numvfs").write_text("4\n")
    written = []
    real_write = sriov._write
    sriov._write = lambda path, value: (written.append(value),
                                        real_write(path, value))
    try:
        sriov.write_numvfs(str(tmp_path), 2)
        sriov.write_numvfs(str(tmp_path), 2)     # unchanged: no write
    finally:
        sriov._write = real_write
    assert written == [0, 2]
    assert (tmp_path / "sriov_numvfs").read_text() == "2"
    with pytest.raises(InvalidParameter, match="from 0 to 8"):
        sriov.write_numvfs(str(tmp_path), 9)


# --- the VM's <hostdev> ---------------------------------------------------------
def test_hostdev_xml_for_pci_usb_scsi():
    pci = domxml.hostdev("pci_0000_05_10_0", _parse("pci_0000_05_10_0"))
    assert pci == (
        '<hostdev mode="subsystem" type="pci" managed="no"><source>'
        '<address domain="0x0000" bus="0x05" slot="0x10" function="0x0" />'
        '</source><alias name="ua-hostdev-pci_0000_05_10_0" /></hostdev>')
    usb = ET.fromstring(domxml.hostdev("usb_1_1", _parse("usb_1_1")))
    assert usb.get("type") == "usb"
    assert usb.find("source/address").attrib == {"bus": "1", "device": "2"}
    scsi = ET.fromstring(domxml.hostdev("scsi_2_0_0_0", _parse("scsi_2_0_0_0")))
    assert scsi.find("source/adapter").get("name") == "scsi_host2"
    assert scsi.find("source/address").attrib == {"bus": "0", "target": "0",
                                                   "unit": "0"}
    with pytest.raises(InvalidParameter, match="cannot be assigned"):
        domxml.hostdev("net_lo", _parse("net_lo_00_00_00_00_00_00"))
