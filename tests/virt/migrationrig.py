"""Two agents on the two-hosts rig, as real processes (test aid).

Agent A drives host A's libvirt, agent B host B's; both listen on
127.0.0.1 (different ports) in the root namespace and share one CA, so
each trusts the other's host certificate as a data center's hosts do.
The libvirts reach each other over the namespaces' link (the migration
URI is built from ``dstqemu``). Hooks write one line per run into a
record file per host. Every process is stopped by pid.
"""

from __future__ import annotations

import os
import signal
import xmlrpc.client
from typing import Any

from tests.agentproc import AgentRoot
from vdsm import config as vdsm_config

from .harness import agent_overrides
from .twohosts import Host

MIGRATION_POINTS = ("before_vm_migrate_source", "after_vm_migrate_source",
                    "before_vm_migrate_destination",
                    "after_vm_migrate_destination")

RECORD_HOOK = '#!/bin/sh\necho "{point} $vmId" >> {record}\n'


def write_hook(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class HostAgent:
    """One host's agent process (tests.virt.agentrunner)."""

    def __init__(self, host: Host, *, ca_from: AgentRoot | None = None,
                 **extra: Any) -> None:
        self.host = host
        overrides = agent_overrides(host.uri, **{
            "vars__migration_libvirt_uri": "qemu+tcp://{dstqemu}/system",
            "vars__migration_monitor_interval": 0.5,
            "vars__migration_create_timeout": 20.0,
            "vars__migration_destination_timeout": 60.0,
            **extra})
        self.root = AgentRoot(overrides, ca_from=ca_from.pki if ca_from else None)
        overrides[("addresses", "management_port")] = self.root.port
        vdsm_config.write(self.root.conf_file, {
            **vdsm_config.rooted(self.root.root), **overrides,
            ("addresses", "management_ip"): "127.0.0.1",
            ("metrics", "port"): 0})
        self.root.config = vdsm_config.load(self.root.conf_file)
        self.record = os.path.join(self.root.root, "hooks.record")
        for point in MIGRATION_POINTS:
            write_hook(os.path.join(self.root.config.hooks_dir, point,
                                    "10_record"),
                       RECORD_HOOK.format(point=point, record=self.record))

    @property
    def dst(self) -> str:
        return f"127.0.0.1:{self.root.port}"

    def start(self) -> None:
        proc = self.root.start("vdsmd", "tests.virt.agentrunner")
        self.root.wait_for_api(proc, 30)

    def kill(self) -> None:
        self.root.stop("vdsmd", signal.SIGKILL)

    def stop(self) -> None:
        self.root.stop("vdsmd")

    @property
    def proxy(self) -> xmlrpc.client.ServerProxy:
        return self.root.proxy()

    def hooks_run(self) -> list[str]:
        try:
            with open(self.record) as f:
                return [line.split()[0] for line in f]
        except FileNotFoundError:
            return []

    def log(self) -> str:
        return self.root.output("vdsmd")

    def cleanup(self) -> None:
        self.root.cleanup()
