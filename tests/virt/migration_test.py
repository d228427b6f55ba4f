"""Live migration through the agents' API between two real hosts (the
two-hosts rig: two libvirts in two network namespaces, agents as real
processes sharing one CA), with a real TCG guest whose uptime counter
shows it kept running.

The failure paths end the same way: the VM runs on exactly one host and
both agents say so.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import libvirt
import pytest

from .harness import destroy_quietly, vm_params, wait_for, wait_status
from .migrationrig import HostAgent
from .twohosts import TwoHosts

MIGRATION_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def agents(two_hosts: TwoHosts,
           guest: dict[str, Any]) -> Iterator[tuple[HostAgent, HostAgent]]:
    tight = {"vars__migration_progress_timeout": 6.0,
             "vars__migration_max_time_per_gib_mem": 12.0}
    a = HostAgent(two_hosts.a, **tight)
    b = HostAgent(two_hosts.b, ca_from=a.root, **tight)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        for agent in (a, b):
            agent.stop()
            agent.cleanup()


def _on(uri: str, vm_id: str) -> int | None:
    """The domain's state on that libvirt, None when it has none."""
    conn = libvirt.open(uri)
    try:
        return conn.lookupByUUIDString(vm_id).state()[0]
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def _console(agent: HostAgent, vm_id: str) -> str:
    path = os.path.join(agent.root.config.log_dir, "console", f"{vm_id}.log")
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _uptime(agent: HostAgent, vm_id: str) -> float:
    lines = [line for line in _console(agent, vm_id).splitlines()
             if "VDSM-TEST-GUEST uptime" in line]
    return float(lines[-1].split()[-1]) if lines else 0.0


def _start_vm(agent: HostAgent, guest: dict[str, Any], **extra: Any) -> str:
    params = vm_params(guest, **extra)
    answer = agent.proxy.create(params)
    assert answer["status"]["code"] == 0, answer
    vm_id = params["vmId"]
    wait_status(agent.proxy, vm_id, "Up")
    wait_for(lambda: _uptime(agent, vm_id) > 0, 60, "the guest to count")
    return vm_id


def _migrate(src: HostAgent, dst: HostAgent, vm_id: str, **params: Any) -> dict:
    request = {"vmId": vm_id, "dst": dst.dst, "method": "online",
               "dstqemu": dst.host.address, **params}
    answer = src.proxy.migrate(request)
    assert answer["status"]["code"] == 0, answer
    return answer


def _migration_stats(agent: HostAgent, vm_id: str) -> dict[str, Any]:
    answer = agent.proxy.migrateStatus(vm_id)
    assert answer["status"]["code"] == 0, answer
    return answer["migrationStats"]


def _wait_migration_end(agent: HostAgent, vm_id: str,
                        timeout: float = MIGRATION_TIMEOUT) -> dict[str, Any]:
    return wait_for(
        lambda: (lambda s: s if s["phase"] in ("done", "failed") else None)(
            _migration_stats(agent, vm_id)), timeout, "the migration to end")


def _cleanup(rig: TwoHosts, agents: tuple[HostAgent, HostAgent], vm_id: str) -> None:
    for agent in agents:
        try:
            agent.proxy.destroy(vm_id)
        except OSError:
            pass
    for host in rig.hosts:
        destroy_quietly(host.uri, [vm_id])


def test_guest_migrates_a_to_b_and_back_and_keeps_running(two_hosts, agents, guest):
    a, b = agents
    vm_id = _start_vm(a, guest)
    try:
        for src, dst in ((a, b), (b, a)):
            before = _uptime(a, vm_id)
            _migrate(src, dst, vm_id, downtime=300)
            end = _wait_migration_end(src, vm_id)
            assert end["phase"] == "done", end
            assert end["status"] == {"code": 0, "message": "Migration done"}
            assert end["progress"] == 100
            down = wait_status(src.proxy, vm_id, "Down", timeout=10)
            assert down["exitReason"] == 4, down   # MigrationSucceeded
            wait_status(dst.proxy, vm_id, "Up", timeout=20)
            # exactly one libvirt has it
            assert _on(dst.host.uri, vm_id) == libvirt.VIR_DOMAIN_RUNNING
            assert _on(src.host.uri, vm_id) is None
            # the guest goes on counting (one console file, appended by both)
            wait_for(lambda t=before: _uptime(a, vm_id) >= t + 2, 30,
                     "the uptime counter to keep increasing")
            # the source forgets the VM once the engine destroys it there
            assert src.proxy.destroy(vm_id)["status"]["code"] == 0
        assert a.hooks_run().count("before_vm_migrate_source") == 1
        assert a.hooks_run().count("after_vm_migrate_source") == 1
        assert a.hooks_run().count("before_vm_migrate_destination") == 1
        assert a.hooks_run().count("after_vm_migrate_destination") == 1
        assert b.hooks_run() == ["before_vm_migrate_destination",
                                 "after_vm_migrate_destination",
                                 "before_vm_migrate_source",
                                 "after_vm_migrate_source"]
    finally:
        _cleanup(two_hosts, agents, vm_id)


def _dirty_guest(agent: HostAgent, guest: dict[str, Any]) -> str:
    vm_id = _start_vm(agent, guest, memSize=128,
                      kernelArgs=guest["cmdline"] + " vdsm_dirty=24")
    wait_for(lambda: "dirtying" in _console(agent, vm_id), 60,
             "the guest to dirty its memory")
    return vm_id


def test_dirtying_guest_under_tight_bandwidth_is_aborted_then_converges(
        two_hosts, agents, guest):
    a, b = agents
    vm_id = _dirty_guest(a, guest)
    try:
        _migrate(a, b, vm_id, maxBandwidth=2, downtime=100)
        end = _wait_migration_end(a, vm_id)
        assert end["phase"] == "failed", end
        assert end["status"]["code"] == 12, end
        assert "budget" in end["status"]["message"] \
            or "progress" in end["status"]["message"], end
        # still running on A, nothing on B
        assert wait_status(a.proxy, vm_id, "Up", timeout=10)
        assert _on(two_hosts.a.uri, vm_id) == libvirt.VIR_DOMAIN_RUNNING
        wait_for(lambda: _on(two_hosts.b.uri, vm_id) is None, 20,
                 "B's half-made domain to go")
        assert vm_id not in [v["vmId"] for v in b.proxy.list()["vmList"]]

        # Next try: started as tight, then opened up while it runs.
        _migrate(a, b, vm_id, maxBandwidth=2, downtime=100)
        wait_for(lambda: _migration_stats(a, vm_id)["phase"] == "migrating",
                 20, "the migration to run")
        answer = a.proxy.migrateChangeParams(vm_id, {"maxBandwidth": 10000})
        assert answer["status"]["code"] == 0, answer
        end = _wait_migration_end(a, vm_id)
        print("END", end)
        assert end["phase"] == "done", end
        wait_status(b.proxy, vm_id, "Up", timeout=20)
        assert _on(two_hosts.a.uri, vm_id) is None
    finally:
        _cleanup(two_hosts, agents, vm_id)
