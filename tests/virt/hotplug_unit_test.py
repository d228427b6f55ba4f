"""CPU/memory hotplug and device updates (vdsm/virt/hotplug.py): the
checks and the XML, pure; the domain XML of a VM made for hotplug."""

from __future__ import annotations

import pytest
from lxml import etree

from vdsm.common.errors import InvalidParameter
from vdsm.virt import hotplug, vmparams
from vdsm.virt.domxml import domain, nics
from vdsm.virt.errors import HotplugMemFailed, SetNumberOfCpusFailed, UpdateDeviceFailed

VM_ID = "6d2fa6c4-30f9-4c43-9c1f-2b8a2e5f0a11"


def _xml(el):
    return etree.tostring(el, encoding="unicode", with_tail=False)


def test_domain_with_hotplug_limits():
    vmdef = vmparams.parse({"vmId": VM_ID, "memSize": 96, "smp": 1,
                            "maxVCpus": 4, "maxMemSize": 512,
                            "maxMemSlots": 4})
    parser = etree.XMLParser(remove_blank_text=True)
    root = etree.fromstring(domain.build(vmdef, domain.HostOptions(),
                                         start_time=0.0).encode(), parser)
    assert _xml(root.find("maxMemory")) == \
        '<maxMemory slots="4" unit="KiB">524288</maxMemory>'
    vcpu = root.find("vcpu")
    assert (vcpu.text, vcpu.get("current")) == ("4", "1")
    assert _xml(root.find("cpu/topology")) == \
        '<topology sockets="4" cores="1" threads="1"/>'
    assert _xml(root.find("cpu/numa")) == \
        '<numa><cell id="0" cpus="0-3" memory="98304" unit="KiB"/></numa>'


def test_domain_without_hotplug_limits_unchanged():
    vmdef = vmparams.parse({"vmId": VM_ID, "memSize": 96, "smp": 2})
    root = etree.fromstring(domain.build(vmdef, domain.HostOptions(),
                                         start_time=0.0).encode())
    assert root.find("maxMemory") is None and root.find("cpu") is None
    assert root.find("vcpu").get("current") is None


@pytest.mark.parametrize("params, why", [
    ({"smp": 4, "maxVCpus": 2}, "maxVCpus must be at least 4"),
    ({"memSize": 256, "maxMemSize": 128}, "maxMemSize must be at least 256"),
    ({"smp": 2, "smpCoresPerSocket": 2, "maxVCpus": 3}, "not a multiple"),
])
def test_bad_hotplug_limits_refused(params, why):
    with pytest.raises(InvalidParameter, match=why):
        vmparams.parse({"vmId": VM_ID, "memSize": 96, **params})


def test_cpu_count_up_to_the_maximum():
    assert hotplug.cpu_count("3", 4) == 3
    for bad in (0, 5, -1, "x", None, True):
        with pytest.raises(SetNumberOfCpusFailed, match="maxVCpus"):
            hotplug.cpu_count(bad, 4)


def test_memory_device_and_its_xml():
    dimm = hotplug.memory_device({"memory": {"size": "128", "node": 0,
                                             "deviceId": "d1"}},
                                 mem_mib=96, max_mib=512, slots_left=1)
    assert dimm == {"type": "memory", "device": "memory", "size": 128,
                    "node": 0, "deviceId": "d1"}
    assert _xml(hotplug.dimm_element(dimm)) == (
        '<memory model="dimm"><target><size unit="KiB">131072</size>'
        '<node>0</node></target><alias name="ua-d1"/></memory>')


@pytest.mark.parametrize("params, kwargs, why", [
    ({"memory": {"size": 512}}, {}, "over the VM's maxMemSize 512"),
    ({"memory": {"size": 128}}, {"slots_left": 0}, "every memory slot"),
    ({"memory": {"size": 128}}, {"max_mib": None}, "without maxMemSize"),
    ({"memory": {"size": -128}}, {}, "must be positive"),
    ({"memory": {"size": "big"}}, {}, "must be integers"),
    ({"size": 128}, {}, "needs a memory map"),
])
def test_memory_device_refused(params, kwargs, why):
    args = {"mem_mib": 96, "max_mib": 512, "slots_left": 4, **kwargs}
    with pytest.raises(HotplugMemFailed, match=why):
        hotplug.memory_device(params, **args)


NIC = {"type": "interface", "device": "bridge", "network": "br0",
       "macAddr": "00:1a:4a:00:00:01", "nicModel": "virtio", "deviceId": "n1"}


def test_find_nic_by_alias_mac_or_id():
    devices = [{"type": "disk"}, NIC]
    for params in ({"alias": "ua-n1"}, {"macAddr": "00:1A:4A:00:00:01"},
                   {"deviceId": "n1"}):
        assert hotplug.find_nic(devices, params) is NIC
    with pytest.raises(UpdateDeviceFailed, match="no NIC"):
        hotplug.find_nic(devices, {"alias": "ua-other"})


def test_updated_nic_link_and_network_xml():
    down = hotplug.updated_nic(NIC, {"linkActive": False})
    assert down["linkActive"] is False and NIC.get("linkActive") is None
    assert '<link state="down"/>' in _xml(nics.element_for(down))
    moved = hotplug.updated_nic(down, {"linkActive": "true", "network": "br1"})
    xml = _xml(nics.element_for(moved))
    assert '<link state="up"/>' in xml and '<source bridge="br1"/>' in xml
    assert "<link" not in _xml(nics.element_for(NIC))   # as before


@pytest.mark.parametrize("params, why", [
    ({"linkActive": "maybe"}, "must be true or false"),
    ({}, "nothing to change"),
])
def test_updated_nic_refused(params, why):
    with pytest.raises(UpdateDeviceFailed, match=why):
        hotplug.updated_nic(NIC, params)


@pytest.mark.parametrize("params, why", [
    ({"deviceType": "tpm"}, "deviceType 'tpm'"),
    ({"deviceType": "graphics", "ttl": "soon"}, "ttl must be seconds"),
    ({"deviceType": "cdrom"}, "needs path or drive"),
    ("interface", "params must be a map"),
])
def test_update_device_refused_before_the_vm_is_looked_at(params, why):
    with pytest.raises(UpdateDeviceFailed, match=why):
        hotplug.update_device(None, None, params)
