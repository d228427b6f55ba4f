"""The bulk sampler with a paused-for-debug (SIGSTOPped) QEMU."""

from __future__ import annotations

import os
import signal
import threading
import time
import types

import libvirt
import pytest

from vdsm.virt import sampling, vmparams
from vdsm.virt.registry import VmRegistry
from vdsm.virt.sampling import Sampler
from vdsm.virt.vm import Vm

from .harness import stats, vm_params, wait_for, wait_status
from .lifecycle_test import _create, _qemu_pid


def test_sigstopped_qemu_does_not_delay_the_others(virt_agent, guest):
    ids = []
    for _ in range(3):
        params = vm_params(guest, memSize=96)
        _create(virt_agent, params)
        ids.append(params["vmId"])
    hung, others = ids[0], ids[1:]
    pid = None
    try:
        for vm_id in ids:
            wait_status(virt_agent.proxy, vm_id, "Up")
        wait_for(lambda: all("cpuUser" in stats(virt_agent.proxy, v)
                             for v in ids), 10, "first samples")
        pid = _qemu_pid(virt_agent, hung)
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: stats(virt_agent.proxy, hung)["monitorResponse"] == "-1",
                 10, "the hung VM reported unresponsive")
        before = {v: stats(virt_agent.proxy, v)["sampleTime"] for v in others}
        time.sleep(2.0)
        for _ in range(5):
            start = time.monotonic()
            answer = virt_agent.proxy.getAllVmStats()
            elapsed = time.monotonic() - start
            assert answer["status"]["code"] == 0
            assert elapsed < 1.0, f"getAllVmStats took {elapsed:.2f} s"
        by_id = {s["vmId"]: s for s in answer["statsList"]}
        assert by_id[hung]["monitorResponse"] == "-1"
        for vm_id in others:
            # Still sampled: fresh figures, QEMU answering.
            assert by_id[vm_id]["monitorResponse"] == "0"
            assert by_id[vm_id]["sampleTime"] > before[vm_id]
        # Verbs on the other VMs are not held up either.
        start = time.monotonic()
        assert virt_agent.proxy.pause(others[0])["status"]["code"] == 0
        assert virt_agent.proxy.cont(others[0])["status"]["code"] == 0
        assert time.monotonic() - start < 2.0
        os.kill(pid, signal.SIGCONT)
        pid = None
        wait_for(lambda: stats(virt_agent.proxy, hung)["monitorResponse"] == "0",
                 15, "the VM to answer again")
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        for vm_id in ids:
            virt_agent.proxy.destroy(vm_id)


# Monitor data in a stats record (balloon figures libvirt reads from QEMU).
MONITOR_KEY = "balloon.rss"


class _Dom:
    def __init__(self, uuid):
        self.uuid = uuid

    def UUIDString(self):  # noqa: N802 - libvirt's name
        return self.uuid


class _HangingConn:
    """A fake libvirt connection whose calls hang on one domain (unit aid)."""

    def __init__(self, hung):
        self.hung = hung
        self.release = threading.Event()

    def _records(self, doms):
        if any(d.uuid == self.hung for d in doms):
            self.release.wait(30)
        return [(d, {"cpu.time": 1, "cpu.user": 1, "cpu.system": 1,
                     MONITOR_KEY: 1}) for d in doms]

    def getAllDomainStats(self, stats, flags):  # noqa: N802
        return self._records([_Dom(u) for u in self.ids])

    def lookupByUUIDString(self, uuid):  # noqa: N802
        return _Dom(uuid)

    def domainListGetStats(self, doms, stats, flags):  # noqa: N802
        return self._records(doms)


def test_probes_run_in_parallel_whatever_the_order():
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]
    fake = _HangingConn(hung=ids[0])          # the first one hangs
    fake.ids = ids
    registry = VmRegistry()
    for vm_id in ids:
        registry.add(Vm(vmparams.parse({"vmId": vm_id, "memSize": 64}),
                        status="Up"))
    conn = types.SimpleNamespace(connected=True, get=lambda: fake)
    ctx = types.SimpleNamespace(conn=conn, registry=registry)
    sampler = Sampler(ctx, interval=1.0, timeout=0.3)
    try:
        took = sampler.sample_once()
        assert took < 1.0
        assert registry.get(ids[0]).unresponsive_since is not None
        for vm_id in ids[1:]:
            vm = registry.get(vm_id)
            assert vm.unresponsive_since is None and "cpuUser" in vm.sample
        # Next cycle: the hung VM is left out and the bulk call answers.
        assert sampler.sample_once() < 0.3
    finally:
        fake.release.set()
    wait_for(lambda: sampler.sample_once() is not None
             and registry.get(ids[0]).unresponsive_since is None, 5,
             "the hung VM to answer again")


class _JobHoldingConn(_HangingConn):
    """libvirt's behaviour with a stopped QEMU (unit aid): the first call on
    the hung domain takes its job and waits for QEMU; a later call waits
    ``give_up`` seconds for that job, then answers without monitor data
    (libvirt 9) or fails (``fail``); a NOWAIT call skips the busy domain's
    monitor and answers at once."""

    def __init__(self, hung, give_up, fail):
        super().__init__(hung)
        self.give_up = give_up
        self.fail = fail
        self.job_held = False
        self.failures = 0

    def _stats(self, doms, flags):
        monitor = {MONITOR_KEY: 1}
        if any(d.uuid == self.hung for d in doms) and not self.release.is_set():
            if not self.job_held:
                self.job_held = True
                self.release.wait(30)
            elif flags & sampling.BULK_FLAGS:
                monitor = {}
            elif not self.release.wait(self.give_up):
                self.failures += 1
                if self.fail:
                    raise libvirt.libvirtError("cannot acquire state change lock")
                monitor = {}
        return [(d, {"cpu.time": 1, "cpu.user": 1, "cpu.system": 1, **monitor})
                for d in doms]

    def getAllDomainStats(self, stats, flags):  # noqa: N802
        return self._stats([_Dom(u) for u in self.ids], flags)

    def domainListGetStats(self, doms, stats, flags):  # noqa: N802
        return self._stats(doms, flags)


@pytest.mark.parametrize("fail", [False, True], ids=["no-monitor-data", "error"])
def test_a_late_call_without_qemu_keeps_the_vm_unresponsive(fail):
    ids = [f"00000000-0000-0000-0000-00000000001{i}" for i in range(2)]
    fake = _JobHoldingConn(hung=ids[0], give_up=0.5, fail=fail)
    fake.ids = ids
    registry = VmRegistry()
    for vm_id in ids:
        registry.add(Vm(vmparams.parse({"vmId": vm_id, "memSize": 64}),
                        status="Up"))
    conn = types.SimpleNamespace(connected=True, get=lambda: fake)
    ctx = types.SimpleNamespace(conn=conn, registry=registry)
    sampler = Sampler(ctx, interval=1.0, timeout=0.2)
    hung = registry.get(ids[0])
    try:
        sampler.sample_once()
        assert hung.unresponsive_since is not None
        # The pending calls give up with an error: still no answer, and the
        # VM is probed again (and fails again) instead of being cleared.
        wait_for(lambda: fake.failures >= 1, 5, "the late call to fail")
        for _ in range(8):
            sampler.sample_once()
            assert hung.unresponsive_since is not None
            time.sleep(0.2)
        assert fake.failures >= 2   # probed again after the failure
        assert registry.get(ids[1]).unresponsive_since is None
    finally:
        fake.release.set()
    wait_for(lambda: sampler.sample_once() is not None
             and hung.unresponsive_since is None, 5, "an answer to clear it")
