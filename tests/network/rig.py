"""An agent managing a private network namespace, for end-to-end tests.

supervdsmd runs as a real process whose configuration points
``[network] netns`` at the test's namespace; the agent runs in-process
with the network subsystem and serves XML-RPC over TLS on port 0.
"""

from __future__ import annotations

import os
import shutil
import xmlrpc.client
from typing import Any

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.common import pki
from vdsm.network.subsystem import NetworkSubsystem

from .nstools import Netns, require_root_and_ip

NICS = ("nic0", "nic1", "nic2")


class Rig:
    def __init__(self, tag: str,
                 overrides: dict[tuple[str, str], Any] | None = None) -> None:
        require_root_and_ip()
        self.ns_name = f"vdsmtest-{tag}-{os.getpid()}"
        self.ns: Netns | None = None
        self.root = AgentRoot({("network", "netns"): self.ns_name,
                               ("addresses", "management_port"): 0,
                               **(overrides or {})})
        self.config = self.root.config
        try:
            self.root.start_supervdsmd()
        except BaseException:
            self.root.cleanup()
            raise

    def fresh_namespace(self) -> Netns:
        """The namespace anew (veth NICs nic0-2, wire ends wire0-2) and no
        network state on disk: a new host."""
        if self.ns is not None:
            self.ns.delete()
        self.ns = Netns(self.ns_name)
        for i, nic in enumerate(NICS):
            self.ns.veth(nic, f"wire{i}")
        for path in ("staging", "persistence"):
            shutil.rmtree(os.path.join(self.config.state_dir, path),
                          ignore_errors=True)
        self.forget_boot()
        return self.ns

    def forget_boot(self) -> None:
        """What a reboot does to the run dir (a tmpfs)."""
        marker = os.path.join(self.config.run_dir, "nets_restored")
        if os.path.exists(marker):
            os.unlink(marker)

    def start_agent(self) -> Agent:
        agent = Agent(self.config, subsystems=[NetworkSubsystem])
        agent.bind()
        agent.start()
        agent.server.serve_in_thread()
        agent.proxy = self.proxy(agent)
        return agent

    def proxy(self, agent: Agent) -> xmlrpc.client.ServerProxy:
        """A client of ``agent`` (one per thread: proxies are not shared)."""
        ctx = pki.client_context(self.root.pki.ca_cert,
                                 self.root.pki.client_cert("engine"),
                                 self.root.pki.client_key("engine"))
        return xmlrpc.client.ServerProxy(
            f"https://127.0.0.1:{agent.server.port}", context=ctx,
            allow_none=True)

    def cleanup(self) -> None:
        if self.ns is not None:
            self.ns.delete()
        self.root.cleanup()


def code(answer: dict[str, Any]) -> int:
    return answer["status"]["code"]
