"""The virt subsystem's answers to the other subsystems (no libvirt)."""

from __future__ import annotations

import uuid

from vdsm.virt import status as st
from vdsm.virt import vmparams
from vdsm.virt.subsystem import network_users
from vdsm.virt.vm import Vm


def _vm(*networks: str, **extra) -> Vm:
    params = {"vmId": str(uuid.uuid4()), "vmName": "users", "memSize": 64,
              "nics": [{"network": n} for n in networks], **extra}
    return Vm(vmparams.parse(params))


def test_network_users_by_nic_network():
    a, b, c = _vm("net1"), _vm("net2", "net1"), _vm("net2")
    assert network_users([a, b, c], "net1") == [a.id, b.id]
    assert network_users([a, b, c], "net3") == []


def test_classic_bridge_param_counts():
    vm = _vm(macAddr="00:1a:4a:16:01:51", bridge="ovirtmgmt")
    assert network_users([vm], "ovirtmgmt") == [vm.id]


def test_down_vms_use_nothing():
    vm = _vm("net1")
    vm.set_status(st.DOWN, exit=st.exit_info(st.ADMIN_SHUTDOWN))
    assert network_users([vm], "net1") == []
