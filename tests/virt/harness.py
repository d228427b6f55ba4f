"""Test aids for the virt tests: the test guest, an agent with the virt
subsystem in-process, waits and console reading. Every wait is bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import xmlrpc.client
from typing import Any, Callable, Iterator

import libvirt

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.common import pki
from vdsm.virt.subsystem import VirtSubsystem

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(REPO, "scripts", "build-test-guest.py")
BRIDGE = "vdsmtestbr0"
BOOT_MARK = "VDSM-TEST-GUEST BOOTED"


def build_guest() -> dict[str, Any]:
    """Build (or reuse) the test guest; raises RuntimeError with the reason."""
    res = subprocess.run([sys.executable, BUILD_SCRIPT], capture_output=True,
                         text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip() or f"rc={res.returncode}")
    with open(res.stdout.strip().splitlines()[-1]) as f:
        return json.load(f)


def agent_overrides(uri: str, **extra: Any) -> dict[tuple[str, str], Any]:
    values: dict[tuple[str, str], Any] = {
        ("addresses", "management_port"): 0,
        ("vars", "libvirt_uri"): uri,
        ("vars", "domain_type"): "qemu",        # never KVM here
        ("vars", "vm_sample_interval"): 0.5,
        ("vars", "vm_sample_timeout"): 1.0,
        ("vars", "guest_agent_interval"): 2.0,
        ("vars", "guest_agent_timeout"): 3.0,
        ("vars", "user_shutdown_timeout"): 20.0,
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        values[(section, name)] = value
    return values


class VirtAgent:
    """An agent running the virt subsystem in this process, on port 0."""

    def __init__(self, uri: str, root: AgentRoot | None = None, *,
                 subsystems: list[Any] | None = None, **extra: Any) -> None:
        """``subsystems``: factories after virt's (e.g. the policy engine)."""
        self.root = root or AgentRoot(agent_overrides(uri, **extra))
        self.config = self.root.config
        self.agent = Agent(self.config,
                           subsystems=[VirtSubsystem, *(subsystems or [])])
        self.agent.bind()
        self.agent.start()
        self.agent.server.serve_in_thread()
        self.virt: VirtSubsystem = self.agent.subsystems["virt"]
        self.port = self.agent.server.port
        self.proxy = self.make_proxy()
        self.uri = uri

    def make_proxy(self) -> xmlrpc.client.ServerProxy:
        p = self.root.pki
        ctx = pki.client_context(p.ca_cert, p.client_cert("engine"),
                                 p.client_key("engine"))
        return xmlrpc.client.ServerProxy(f"https://127.0.0.1:{self.port}",
                                         context=ctx, allow_none=True)

    def stop(self) -> None:
        self.agent.stop()

    def console_path(self, vm_id: str) -> str:
        return os.path.join(self.config.log_dir, "console", f"{vm_id}.log")

    def console(self, vm_id: str) -> str:
        return read_console(self.config.log_dir, vm_id)


def read_console(log_dir: str, vm_id: str) -> str:
    """The VM's serial console log under an agent's log dir ("" if none)."""
    try:
        with open(os.path.join(log_dir, "console", f"{vm_id}.log"),
                  errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def uptime_in(console: str) -> float:
    """The test guest's last printed uptime counter in a console text."""
    lines = [line for line in console.splitlines()
             if "VDSM-TEST-GUEST uptime" in line]
    return float(lines[-1].split()[-1]) if lines else 0.0


def vm_params(guest: dict[str, Any], **extra: Any) -> dict[str, Any]:
    vm_id = str(uuid.uuid4())
    params = {"vmId": vm_id, "vmName": f"test-{vm_id[:8]}", "memSize": 96,
              "smp": 1, "kernel": guest["kernel"], "initrd": guest["initrd"],
              "kernelArgs": guest["cmdline"]}
    params.update(extra)
    return params


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def stats(proxy: xmlrpc.client.ServerProxy, vm_id: str) -> dict[str, Any]:
    answer = proxy.getVmStats(vm_id)
    assert answer["status"]["code"] == 0, answer
    return answer["statsList"][0]


def wait_status(proxy: xmlrpc.client.ServerProxy, vm_id: str, wanted: str,
                timeout: float = 30.0) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.update(stats(proxy, vm_id))
        return last["status"] == wanted

    try:
        wait_for(reached, timeout, f"{vm_id} {wanted}")
    except AssertionError:
        raise AssertionError(f"VM {vm_id} not {wanted} in {timeout} s: "
                             f"{last.get('status')} {last}") from None
    return last


def wait_booted(agent: VirtAgent, vm_id: str, count: int = 1,
                timeout: float = 60.0) -> None:
    wait_for(lambda: agent.console(vm_id).count(BOOT_MARK) >= count, timeout,
             f"the guest of {vm_id} to boot ({count})")


def uptime(agent: VirtAgent, vm_id: str) -> float:
    """The guest's last printed uptime counter."""
    return uptime_in(agent.console(vm_id))


def booted_vm(agent: VirtAgent, params: dict[str, Any]) -> Iterator[str]:
    """For a fixture to yield: the VM created from ``params``, Up and
    booted; destroyed on exit."""
    answer = agent.proxy.create(params)
    assert answer["status"]["code"] == 0, answer
    try:
        wait_status(agent.proxy, params["vmId"], "Up")
        wait_booted(agent, params["vmId"])
        yield params["vmId"]
    finally:
        agent.proxy.destroy(params["vmId"])


def running_agent(uri: str, *, subsystems: list[Any] | None = None,
                  **extra: Any) -> Iterator[VirtAgent]:
    """A VirtAgent for a fixture to yield; on exit it is stopped and no
    domain of its VMs is left."""
    agent = VirtAgent(uri, subsystems=subsystems, **extra)
    try:
        yield agent
    finally:
        ids = [vm.id for vm in agent.virt.ctx.registry.all()]
        agent.stop()
        destroy_quietly(uri, ids)
        agent.root.cleanup()


def destroy_quietly(uri: str, vm_ids: list[str]) -> None:
    """Test cleanup: make sure no domain of ours is left running."""
    conn = libvirt.open(uri)
    try:
        for vm_id in vm_ids:
            try:
                conn.lookupByUUIDString(vm_id).destroy()
            except libvirt.libvirtError:
                pass
    finally:
        conn.close()
