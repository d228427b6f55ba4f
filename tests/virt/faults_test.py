"""The virt rows of the fault matrix, on real TCG guests and a real libvirtd.

Each test breaks one thing under running VMs and asserts that the agent
keeps serving, reports the truth, and loses nothing. The module runs on a
libvirtd of its own (``own_libvirtd``): one test restarts it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable

import pytest

from tests.eventrec import Recorder

from .harness import (
    running_agent,
    stats,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from .lifecycle_test import _create, _qemu_pid

FAST = 1.0  # seconds: "well under" this for a call that must not wait
LIBVIRT_JOB_WAIT = 30.0  # libvirt's wait for a domain job (QEMU_JOB_WAIT_TIME)


@pytest.fixture(scope="module")
def libvirtd(own_libvirtd):
    """Overrides the session's libvirtd for this module (and virt_agent)."""
    return own_libvirtd


@pytest.fixture(scope="module")
def virt_agent(libvirtd, guest):
    """The production sampling timeout (2 s), not the harness's 1 s: with a
    QEMU stopped, libvirt stats calls of the healthy VMs take about 1 s
    here at times, and the healthy VM must never be reported hung."""
    yield from running_agent(libvirtd.uri, vars__vm_sample_timeout=2.0)


@pytest.fixture
def two_vms(virt_agent, guest):
    ids = []
    for _ in range(2):
        params = vm_params(guest, memSize=96)
        _create(virt_agent, params)
        ids.append(params["vmId"])
    try:
        for vm_id in ids:
            wait_status(virt_agent.proxy, vm_id, "Up")
            wait_booted(virt_agent, vm_id)
        # A booting TCG guest's QEMU may answer slower than the sampling
        # timeout on a loaded machine: start from both answering.
        wait_for(lambda: all(s["monitorResponse"] == "0" and "cpuUser" in s
                             for s in (stats(virt_agent.proxy, v) for v in ids)),
                 15, "first samples, both answering")
        yield ids
    finally:
        for vm_id in ids:
            virt_agent.proxy.destroy(vm_id)


def _timed(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.monotonic()
    answer = call()
    elapsed = time.monotonic() - start
    assert answer["status"]["code"] == 0, answer
    assert elapsed < FAST, f"took {elapsed:.2f} s: {answer}"
    return answer


def test_sigstopped_qemu_is_reported_and_nothing_else_waits(virt_agent,
                                                            two_vms):
    proxy = virt_agent.proxy
    hung, other = two_vms
    sampler = virt_agent.virt.sampler
    pid = _qemu_pid(virt_agent, hung)
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        wait_for(lambda: stats(proxy, hung)["monitorResponse"] == "-1",
                 sampler.interval + 2 * sampler.timeout + 2.0,
                 "the stopped VM reported unresponsive")
        detected = time.monotonic() - stopped
        # The API and the other VM do not notice; the stopped VM stays -1
        # past libvirt's wait for the job its first hung call holds.
        first = stats(proxy, other)["sampleTime"]
        deadline = stopped + LIBVIRT_JOB_WAIT + 5.0
        while time.monotonic() < deadline:
            _timed(proxy.ping)
            every = _timed(proxy.getAllVmStats)["statsList"]
            by_id = {s["vmId"]: s for s in every}
            assert by_id[hung]["monitorResponse"] == "-1"
            assert by_id[other]["monitorResponse"] == "0"
            assert by_id[other]["status"] == "Up"
            _timed(lambda: proxy.getVmStats(other))
            assert _timed(lambda: proxy.getVmStats(hung))["statsList"][0][
                "monitorResponse"] == "-1"
            time.sleep(0.5)
        assert stats(proxy, other)["sampleTime"] > first, "other VM not sampled"
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: stats(proxy, hung)["monitorResponse"] == "0", 15,
             "the VM to answer again")
    assert wait_status(proxy, hung, "Up", timeout=5)["monitorResponse"] == "0"
    assert detected < sampler.interval + 2 * sampler.timeout + 2.0


def _statuses(rec: Recorder, vm_id: str) -> list[str]:
    return [p[vm_id]["status"] for p in rec.of(f"|virt|VM_status|{vm_id}")]


def test_libvirtd_restart_under_running_vms(libvirtd, virt_agent, two_vms):
    proxy = virt_agent.proxy
    pids = {vm_id: _qemu_pid(None, vm_id) for vm_id in two_vms}
    conn = virt_agent.virt.ctx.conn
    old = conn.get()
    rec = Recorder()
    unsubscribe = virt_agent.agent.notifier.subscribe(rec)
    try:
        libvirtd.restart_libvirtd()
        wait_for(lambda: conn.connected and conn.get() is not old, 20,
                 "the agent to reconnect")
        reconnected = time.time()
        # Both VMs Up, same QEMUs, with figures sampled after the reconnect.
        for vm_id in two_vms:
            assert _qemu_pid(None, vm_id) == pids[vm_id]

        def fresh() -> bool:
            every = _timed(proxy.getAllVmStats)["statsList"]
            ours = [s for s in every if s["vmId"] in two_vms]
            return len(ours) == 2 and all(
                s["status"] == "Up" and s["monitorResponse"] == "0"
                and s.get("sampleTime", 0) > reconnected for s in ours)
        wait_for(fresh, 10, "fresh stats of both VMs after the reconnect")
        # Events flow on the new connection: a pause and cont are seen.
        target = two_vms[0]
        assert proxy.pause(target)["status"]["code"] == 0
        wait_status(proxy, target, "Paused", timeout=10)
        rec.wait(lambda _: _statuses(rec, target)[-1:] == ["Paused"], 10,
                 "a Paused event after the reconnect")
        assert proxy.cont(target)["status"]["code"] == 0
        wait_status(proxy, target, "Up", timeout=10)
        rec.wait(lambda _: _statuses(rec, target)[-1:] == ["Up"], 10,
                 "an Up event after the reconnect")
    finally:
        unsubscribe()
    # Nothing was taken for dead while libvirtd was away.
    for vm_id in two_vms:
        assert "Down" not in _statuses(rec, vm_id), rec.events
        assert stats(proxy, vm_id)["status"] == "Up"
