"""The virt subsystem's answers to the other subsystems and its event
worker's filtering (no libvirt daemon)."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from tests.agentproc import AgentRoot
from tests.eventrec import Recorder
from vdsm.common import hooks
from vdsm.host.jobs import JobRegistry
from vdsm.virt import status as st
from vdsm.virt import vmparams
from vdsm.virt.subsystem import VirtSubsystem, network_users
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


@pytest.fixture
def virt():
    root = AgentRoot({("vars", "libvirt_uri"): "test:///default"})
    agent = SimpleNamespace(config=root.config, notifier=Recorder(),
                            hooks=hooks.Hooks.from_config(root.config),
                            jobs=JobRegistry())
    yield VirtSubsystem(agent)
    root.cleanup()


def test_events_older_than_the_vm_are_dropped(virt):
    """A hibernated VM destroyed and created again from its state: the old
    domain's late STOPPED (saved) event must not end the new VM."""
    before = time.monotonic()
    vm = _vm("net1")
    virt.ctx.registry.add(vm)
    vm.set_status(st.UP)
    virt._handle(before, "lifecycle", vm.id, st.EV_STOPPED, st.STOPPED_SAVED)
    assert vm.status == st.UP
    virt._handle(time.monotonic(), "lifecycle", vm.id, st.EV_SUSPENDED,
                 st.SUSPENDED_PAUSED)
    assert vm.status == st.PAUSED


def test_channel_dir_made_at_start_or_left_to_libvirt(tmp_path):
    """The oVirt agent channel directory is made at start; when it cannot
    be, the domains get libvirt's own socket paths instead of the agent
    failing to start."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    for wanted, expected in ((str(tmp_path / "ch"), str(tmp_path / "ch")),
                             (str(blocker / "ch"), None)):
        root = AgentRoot({("vars", "libvirt_uri"): "test:///default",
                          ("vars", "vm_channel_dir"): wanted})
        agent = SimpleNamespace(config=root.config, notifier=Recorder(),
                                hooks=hooks.Hooks.from_config(root.config),
                                jobs=JobRegistry())
        try:
            virt = VirtSubsystem(agent)
            virt.make_channel_dir()
            assert virt.ctx.options.channel_dir == expected
            if expected:
                assert (tmp_path / "ch").is_dir()
        finally:
            root.cleanup()
