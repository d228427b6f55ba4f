"""A network a running VM uses is not removed (the classic UsedBridge, 28).

One host: the private libvirtd of the virt tests runs in a network
namespace; an agent with the network AND virt subsystems manages that
namespace (supervdsmd applies the changes there) and starts a real TCG
guest whose NIC is on a bridge the agent created. The VM's tap is a port
of that bridge in the namespace.
"""

from __future__ import annotations

import uuid
import xmlrpc.client
from typing import Any, Iterator

import pytest

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.common import commands, pki
from vdsm.network.subsystem import NetworkSubsystem
from vdsm.virt.subsystem import VirtSubsystem

from .harness import agent_overrides, destroy_quietly, vm_params, wait_status

USED_BRIDGE = 28


def _ip(netns: str, *args: str, check: bool = True) -> commands.CommandResult:
    return commands.run(["ip", "-n", netns, *args], timeout=10, check=check)


def _has_link(netns: str, name: str) -> bool:
    return _ip(netns, "link", "show", name, check=False).rc == 0


class _Host:
    """The agent (network + virt) of the namespace, served on port 0."""

    def __init__(self, uri: str, netns: str) -> None:
        self.root = AgentRoot(agent_overrides(uri, network__netns=netns))
        self.agent: Agent | None = None
        self.root.start_supervdsmd()
        self.agent = Agent(self.root.config,
                           subsystems=[NetworkSubsystem, VirtSubsystem])
        self.agent.bind()
        self.agent.start()
        self.agent.server.serve_in_thread()
        p = self.root.pki
        ctx = pki.client_context(p.ca_cert, p.client_cert("engine"),
                                 p.client_key("engine"))
        self.proxy = xmlrpc.client.ServerProxy(
            f"https://127.0.0.1:{self.agent.server.port}", context=ctx,
            allow_none=True)

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
        self.root.cleanup()


@pytest.fixture
def host(libvirtd, guest, netns) -> Iterator[tuple[_Host, str, str]]:
    tag = uuid.uuid4().hex[:6]
    nic, wire, net = f"vu{tag}", f"vw{tag}", f"vn{tag}"
    _ip(netns, "link", "add", nic, "type", "veth", "peer", "name", wire)
    for name in (nic, wire):
        _ip(netns, "link", "set", name, "up")
    h = None
    try:
        h = _Host(libvirtd.uri, netns)
        yield h, nic, net
    finally:
        if h is not None:
            ids = [vm.id for vm in h.agent.subsystems["virt"].ctx.registry.all()]
            destroy_quietly(libvirtd.uri, ids)
            h.proxy.setupNetworks({net: {"remove": True}}, {}, {})
            h.stop()
        _ip(netns, "link", "del", nic, check=False)
        _ip(netns, "link", "del", net, check=False)


def _code(answer: dict[str, Any]) -> int:
    return answer["status"]["code"]


def test_network_of_a_running_vm_is_not_removed(host, guest, netns):
    h, nic, net = host
    assert _code(h.proxy.setupNetworks(
        {net: {"nic": nic, "bridged": True}}, {}, {})) == 0
    assert _has_link(netns, net)
    params = vm_params(guest, nics=[{"network": net, "nicModel": "virtio"}])
    vm_id = params["vmId"]
    assert _code(h.proxy.create(params)) == 0
    wait_status(h.proxy, vm_id, "Up")
    ports = _ip(netns, "-o", "link", "show", "master", net).out
    assert "vnet" in ports or "tap" in ports, ports  # the VM's tap

    for request in ({net: {"remove": True}},
                    {net: {"nic": nic, "bridged": False}}):
        answer = h.proxy.setupNetworks(request, {}, {})
        assert _code(answer) == USED_BRIDGE, answer
        assert vm_id in answer["status"]["message"]  # named by virt
        assert _has_link(netns, net)
        caps = h.proxy.getVdsCapabilities()["info"]["networks"]
        assert caps[net]["bridged"] is True

    assert _code(h.proxy.destroy(vm_id)) == 0
    assert _code(h.proxy.setupNetworks({net: {"remove": True}}, {}, {})) == 0
    assert not _has_link(netns, net)
    assert net not in h.proxy.getVdsCapabilities()["info"]["networks"]
