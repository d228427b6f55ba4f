"""A soak rig (test aid): the real vdsmd and supervdsmd processes over a
libvirtd, with many real TCG VMs, and the clients in their own process
(tests/virt/soakload.py). Shared by tests/virt/soak_test.py (CI size) and
benchmarks/soak.py (full size). Everything started is stopped by pid.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tests.agentproc import PYTHON, REPO, AgentRoot, ensure_vdsm_user
from vdsm.common import commands

from .harness import (
    BOOT_MARK,
    agent_overrides,
    destroy_quietly,
    read_console,
    vm_params,
    wait_for,
    wait_status,
)

BATCH = 5          # VMs booting at once: TCG boots share 2 cores
BOOT_TIMEOUT = 120.0


class SoakRig:
    """``vms`` VMs of ``mem_mib`` each, the first ``up`` left running and
    the others paused once booted (to spare the CPU)."""

    def __init__(self, uri: str, guest: dict[str, Any], *, vms: int, up: int,
                 mem_mib: int = 96) -> None:
        self.uri = uri
        self.guest = guest
        self.count, self.up, self.mem_mib = vms, up, mem_mib
        overrides = agent_overrides(uri, vars__drop_privileges=False,
                                    vars__vm_sample_interval=2.0)
        del overrides[("addresses", "management_port")]  # the root's own
        self.root = AgentRoot(overrides)
        self.vm_ids: list[str] = []
        self.pid = 0

    def start(self) -> None:
        ensure_vdsm_user()
        self.root.start_supervdsmd()
        self.pid = self.root.start_vdsmd(timeout=60).pid
        self.proxy = self.root.proxy()
        for first in range(0, self.count, BATCH):
            batch = [self._create() for _ in range(min(BATCH, self.count - first))]
            for vm_id in batch:
                wait_status(self.proxy, vm_id, "Up", timeout=BOOT_TIMEOUT)
                wait_for(lambda v=vm_id: BOOT_MARK in self._console(v),
                         BOOT_TIMEOUT, f"the guest of {vm_id} to boot")
            for vm_id in batch:
                if self.vm_ids.index(vm_id) >= self.up:
                    assert self.proxy.pause(vm_id)["status"]["code"] == 0
                    wait_status(self.proxy, vm_id, "Paused", timeout=30)

    def _create(self) -> str:
        params = vm_params(self.guest, memSize=self.mem_mib)
        answer = self.proxy.create(params)
        assert answer["status"]["code"] == 0, answer
        self.vm_ids.append(params["vmId"])
        return params["vmId"]

    def _console(self, vm_id: str) -> str:
        return read_console(self.root.config.log_dir, vm_id)

    def statuses(self) -> dict[str, str]:
        answer = self.proxy.getAllVmStats()
        assert answer["status"]["code"] == 0, answer
        return {s["vmId"]: s["status"] for s in answer["statsList"]}

    def run_load(self, clients: int, calls: int, timeout: float) -> dict[str, Any]:
        """The clients' process; raises CommandError if it fails or hangs."""
        argv = [PYTHON, "-m", "tests.virt.soakload", "--port", str(self.root.port),
                "--pki-dir", self.root.config.pki_dir, "--vms", ",".join(self.vm_ids),
                "--agent-pid", str(self.pid), "--clients", str(clients),
                "--calls", str(calls), "--timeout", str(timeout)]
        env = {**os.environ, "PYTHONPATH": REPO}
        start = time.monotonic()
        res = commands.run(argv, timeout=timeout + 60, env=env, cwd=REPO)
        result = json.loads(res.out.strip().splitlines()[-1])
        result["wall_s"] = round(time.monotonic() - start, 1)
        return result

    def stop(self) -> None:
        try:
            for vm_id in self.vm_ids:
                self.proxy.destroy(vm_id)
        except OSError:
            pass  # the agent is gone; libvirt cleanup below still runs
        finally:
            self.root.stop("vdsmd")
            destroy_quietly(self.uri, self.vm_ids)
            self.root.cleanup()
