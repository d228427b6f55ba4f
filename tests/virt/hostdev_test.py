"""Host devices through the API of an agent on a real (private) libvirtd:
the listing is this machine's own node devices. Device assignment needs an
IOMMU; where there is none (this kernel) the refusal is what is tested and
the VFIO hotplug end to end is skipped with the reason."""

from __future__ import annotations

import os

import libvirt
import pytest

from vdsm.common.errors import HostdevDetachFailed
from vdsm.host.hostdev import nodedev

NO_IOMMU = not nodedev.iommu_available()
NO_IOMMU_REASON = ("no IOMMU on this host (/sys/kernel/iommu_groups is "
                   "empty): VFIO device assignment cannot run here")


def _code(answer):  # InvalidParameter is 91
    return answer["status"]["code"]


def _driver(pci_address: str) -> str | None:
    link = f"/sys/bus/pci/devices/{pci_address}/driver"
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


@pytest.fixture(scope="module")
def listing(virt_agent):
    answer = virt_agent.proxy.hostdevListByCaps()
    assert _code(answer) == 0, answer["status"]
    return answer["deviceList"]


def test_listing_is_libvirts_node_devices(virt_agent, listing):
    conn = libvirt.open(virt_agent.uri)
    try:
        names = {d.name() for d in conn.listAllDevices(0)}
    finally:
        conn.close()
    assert set(listing) == names
    pcis = {n: d["params"] for n, d in listing.items()
            if d["params"]["capability"] == "pci"}
    assert pcis, "this machine has PCI devices"
    for name, params in pcis.items():
        address = nodedev.pci_path(name)
        assert os.path.isdir(f"/sys/bus/pci/devices/{address}")
        assert params["vendor_id"].startswith("0x")
        assert params["parent"] == "computer" or params["parent"] in listing
        assert params["is_assignable"] in ("true", "false")
        assert params.get("driver") == _driver(address)
        if not NO_IOMMU:
            assert "iommu_group" in params


def test_passthrough_capability(virt_agent):
    caps = virt_agent.proxy.getVdsCapabilities()["info"]
    assert caps["hostdevPassthrough"] == str(not NO_IOMMU).lower()


def test_listing_by_caps(virt_agent, listing):
    answer = virt_agent.proxy.hostdevListByCaps(["pci"])
    assert set(answer["deviceList"]) == {
        n for n, d in listing.items() if d["params"]["capability"] == "pci"}
    kinds = {d["params"]["capability"] for d in listing.values()}
    assert {"pci", "system"} <= kinds


def test_numvfs_of_a_device_without_sriov_is_refused(virt_agent, listing):
    pci = sorted(n for n, d in listing.items()
                 if d["params"]["capability"] == "pci"
                 and "totalvfs" not in d["params"])[0]
    answer = virt_agent.proxy.hostdevChangeNumvfs(pci, 2)
    assert _code(answer) == 91 and "SR-IOV" in answer["status"]["message"]
    answer = virt_agent.proxy.hostdevChangeNumvfs("pci_0000_ff_1f_7", 2)
    assert _code(answer) == 91 and "no host device" in answer["status"]["message"]


def test_reattach_leaves_host_drivers_alone(virt_agent, listing):
    pci = sorted(n for n, d in listing.items()
                 if d["params"]["capability"] == "pci"
                 and d["params"].get("driver"))[0]
    before = _driver(nodedev.pci_path(pci))
    assert _code(virt_agent.proxy.hostdevReattach(pci)) == 0
    assert _driver(nodedev.pci_path(pci)) == before


@pytest.mark.skipif(not NO_IOMMU, reason="this host has an IOMMU: the "
                    "refusal path does not apply (and detaching its own "
                    "devices is not a test's business)")
def test_detach_without_iommu_is_refused_before_libvirt(virt_agent, listing):
    pci = sorted(n for n, d in listing.items()
                 if d["params"]["capability"] == "pci"
                 and d["params"]["is_assignable"] == "true")[0]
    before = _driver(nodedev.pci_path(pci))
    with pytest.raises(HostdevDetachFailed, match="no IOMMU"):
        virt_agent.agent.hostdevs.detach(pci)
    assert _driver(nodedev.pci_path(pci)) == before


def test_hotplug_to_an_unknown_vm(virt_agent, listing):
    answer = virt_agent.proxy.hotplugHostdev(
        "9d1b9d0b-7c1b-4d5e-9f2a-000000000014", sorted(listing)[:1])
    assert _code(answer) == 1     # NoSuchVM


def test_vfio_hotplug_end_to_end():
    if NO_IOMMU:
        pytest.skip(NO_IOMMU_REASON)
    pytest.skip("an assignable spare PCI device is needed: a host with an "
                "IOMMU runs this by hand (docs/hostsvc.md)")
