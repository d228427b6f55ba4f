"""The network subsystem: what the agent runs for host networking.

Built by the agent (``vdsm.network.subsystem:NetworkSubsystem`` in its
subsystem list). Its service is what the Host network verbs call
(:mod:`vdsm.api.wiring` builds them); it restores the safe configuration
at the first start after a boot (or rolls back a change a crash left
unconfirmed), and adds ``networks`` to the capabilities. The agent hands
in who uses a network (the virt subsystem's ``network_users``). The
netlink changes themselves run in supervdsmd (op ``network_apply``).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable

from vdsm.host import netinfo
from vdsm.network import kernel, report
from vdsm.network.persistence import NetStore
from vdsm.network.service import NetworkService
from vdsm.supervdsm.client import SupervdsmClient

if TYPE_CHECKING:
    from vdsm.agent import Agent

log = logging.getLogger(__name__)


def read_devices(netns: str | None) -> dict[str, Any]:
    """netinfo of ``netns`` (None: our own namespace, with sysfs extras).

    Another namespace is read through a socket opened inside it
    (:func:`kernel.open_netlink`), not pyroute2's NetNS proxy, whose pipe
    transport fails on large dumps (some 50 bridges).
    """
    if not netns:
        return netinfo.get()
    with kernel.open_netlink(netns) as ipr:
        return netinfo.get(ipr)


class NetworkSubsystem:
    name = "network"

    def __init__(self, agent: Agent, *,
                 last_call_time: Callable[[], float] | None = None) -> None:
        config = agent.config
        self._config = config
        self._supervdsm = agent.supervdsm
        self.netns: str | None = config.get("network", "netns") or None
        self._restore = config.get("network", "restore_on_start")
        self.service = NetworkService(
            store=NetStore(config.state_dir, config.run_dir),
            apply=self._apply, netinfo=self.devices, hooks=agent.hooks,
            last_call_time=last_call_time or agent.last_call_time,
            default_timeout=config.get("network", "connectivity_timeout"),
            publisher=agent.notifier)

    def set_vm_users(self, vm_users: Callable[[str], list[str]]) -> None:
        """``vm_users(network)`` names the VMs attached to a network (the
        virt subsystem's); a network they use is not removed."""
        self.service.set_vm_users(vm_users)

    def start(self) -> None:
        try:
            done = self.service.recover(restore_on_start=self._restore)
        except Exception:  # the agent must come up so the engine can fix it
            log.exception("network recovery at start failed")
            return
        log.info("network recovery at start: %s", done)

    def stop(self) -> None:
        """Nothing runs in the background; an unconfirmed change left by
        a stop mid-check is rolled back at the next start."""

    def devices(self) -> dict[str, Any]:
        """netinfo of the namespace this agent manages (another one only
        supervdsmd can enter once vdsmd has dropped root)."""
        if self.netns and os.geteuid() != 0:
            return self._supervdsm.call("network_devices")
        return read_devices(self.netns)

    def capabilities(self) -> dict[str, Any]:
        """The network part of the capabilities (getNetworkCapabilities)."""
        info: dict[str, Any] = {}
        report.extend(info, self.service.running, self.devices())
        info["nameservers"] = netinfo.nameservers()
        info["supportsIPv6"] = netinfo.supports_ipv6()
        return info

    def extend_capabilities(self, info: dict[str, Any]) -> None:
        report.extend(info, self.service.running,
                      self.devices() if self.netns else None)

    def _apply(self, ifaces: dict[str, Any], release: dict[str, str]) -> Any:
        # Each DHCP client started (or restarted by an undo) may take up to
        # dhcp_timeout; the call must not give up before supervdsmd does.
        clients = sum(1 for i in ifaces.values() if i.get("dhcp")) + sum(
            1 for n in self.service.running.networks.values()
            if n.bootproto == "dhcp")
        if not clients:
            return self._supervdsm.call("network_apply", ifaces=ifaces,
                                        release=release)
        config = self._config
        timeout = config.get("supervdsm", "timeout") + clients * (
            config.get("network", "dhcp_timeout") + 10)
        with SupervdsmClient(config.supervdsm_socket, timeout=timeout) as c:
            return c.call("network_apply", ifaces=ifaces, release=release)
