"""hotplugHostdev/hotunplugHostdev's all-or-nothing order (vdsm/virt/
hostdevs.py) over a recording domain: VFIO cannot run on this kernel (the
real path is tests/virt/hostdev_test.py, skipped without an IOMMU)."""

from __future__ import annotations

import threading
import types
from typing import Any

import libvirt
import pytest

from tests.host.hostdev_test import _parse
from vdsm.common.errors import HostdevDetachFailed
from vdsm.virt import hostdevs


class _Dom:
    def __init__(self, fail_attach: str = "") -> None:
        self.fail_attach = fail_attach
        self.log: list[tuple[str, str]] = []

    def attachDeviceFlags(self, xml: str, flags: int) -> None:  # noqa: N802
        if self.fail_attach and self.fail_attach in xml:
            raise libvirt.libvirtError("attach refused")
        self.log.append(("attach", xml))

    def detachDeviceFlags(self, xml: str, flags: int) -> None:  # noqa: N802
        self.log.append(("detach", xml))


class _Devices:
    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.log: list[tuple[str, str]] = []

    def detach(self, name: str) -> dict[str, Any]:
        if name == self.refuse:
            raise HostdevDetachFailed(f"Could not detach host device {name}")
        self.log.append(("detach", name))
        return _parse(name)

    def reattach(self, name: str) -> None:
        self.log.append(("reattach", name))


@pytest.fixture
def vm(monkeypatch):
    dom = _Dom()
    monkeypatch.setattr(hostdevs, "running_domain", lambda ctx, vm: dom)
    monkeypatch.setattr(hostdevs, "refresh_live", lambda vm, dom: None)
    monkeypatch.setattr(hostdevs, "persist_conf", lambda vm, dom: None)
    return types.SimpleNamespace(id="vm1", lock=threading.RLock(), conf={},
                                 dom=dom)


def test_plug_and_unplug(vm):
    devs = _Devices()
    names = ["pci_0000_05_10_0", "usb_1_1"]
    assert hostdevs.hotplug(None, vm, devs, names) == names
    assert [a for a, _ in vm.dom.log] == ["attach", "attach"]
    assert set(vm.conf["hostdevs"]) == set(names)
    assert hostdevs.hotunplug(None, vm, devs, names + ["scsi_2_0_0_0"]) == names
    assert devs.log[-1] == ("reattach", "pci_0000_05_10_0")   # PCI only
    assert vm.conf["hostdevs"] == {}


def test_a_refused_device_undoes_the_ones_before(vm):
    devs = _Devices(refuse="usb_1_1")
    with pytest.raises(HostdevDetachFailed):
        hostdevs.hotplug(None, vm, devs, ["pci_0000_05_10_0", "usb_1_1"])
    assert [a for a, _ in vm.dom.log] == ["attach", "detach"]
    assert devs.log == [("detach", "pci_0000_05_10_0"),
                        ("reattach", "pci_0000_05_10_0")]
    assert "hostdevs" not in vm.conf


def test_a_failed_attach_gives_the_device_back(vm):
    vm.dom.fail_attach = "0x10"
    devs = _Devices()
    with pytest.raises(HostdevDetachFailed, match="Could not attach host device"):
        hostdevs.hotplug(None, vm, devs, ["pci_0000_05_10_0"])
    assert devs.log == [("detach", "pci_0000_05_10_0"),
                        ("reattach", "pci_0000_05_10_0")]
