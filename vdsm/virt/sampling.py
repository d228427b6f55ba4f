"""The bulk VM sampler: one libvirt call per cycle for every VM.

Each cycle asks libvirt for every VM's statistics in one call
(getAllDomainStats) and stores the computed classic stats in the VMs, so
the stats verbs never touch libvirt. A QEMU that stops answering (e.g.
SIGSTOPped) would hang that call: every call runs in its own thread with
a timeout. When the bulk call times out, each VM is probed on its own
(again with a timeout); a VM whose probe hangs is marked unresponsive
(monitorResponse -1) and left out of the bulk calls until QEMU answers a
call of its own. libvirt gives up waiting for the domain's job after 30 s
while the first hung call still holds it, and then answers without asking
QEMU (or fails): such an answer proves nothing, and the VM is probed
again. So one hung QEMU never delays the others, and it is reported as
hung for as long as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import libvirt

from vdsm.common.periodic import Periodic
from vdsm.virt import statsconv
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)

STATS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
         | libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_VCPU
         | libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)
# Do not wait for a domain another job holds: its monitor stats are left out.
BULK_FLAGS = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
MAX_PENDING_CALLS = 64
# Only in a record libvirt got with the domain's job, i.e. from QEMU's
# monitor (the balloon query); its absence means QEMU was not asked.
MONITOR_KEY = "balloon.rss"


class _Call:
    """A libvirt call in its own thread, waited for with a timeout."""

    def __init__(self, func: Callable[[], Any],
                 on_late: Callable[[_Call], None] | None = None) -> None:
        self._done = threading.Event()
        self._state = threading.Lock()
        self._finished = False
        self._late = False
        self._on_late = on_late
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func,),
                                        daemon=True, name="vm-stats-call")

    def _run(self, func: Callable[[], Any]) -> None:
        try:
            self.result = func()
        except BaseException as e:  # reported to the waiter
            self.error = e
        finally:
            with self._state:
                self._finished = True
                late = self._late
            self._done.set()
            if late and self._on_late is not None:
                self._on_late(self)

    def start(self) -> _Call:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """True when done in time; else ``on_late`` runs when it ends."""
        if self._done.wait(timeout):
            return True
        with self._state:
            if self._finished:
                return True
            self._late = True
        return False


class Sampler:
    """Thread-safe; ``sample_once()`` may also be called directly."""

    def __init__(self, ctx: VirtContext, *, interval: float,
                 timeout: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._stuck: dict[str, float] = {}   # vm id -> since (monotonic)
        self._pending = 0
        self._probing: set[str] = set()      # vm ids with a probe in flight
        self._prev: dict[str, tuple[float, dict[str, Any]]] = {}
        self._periodic: Periodic | None = None
        self.last_cycle = 0.0

    def start(self) -> None:
        self._periodic = Periodic("vm-sampler", self.interval, self.sample_once)
        self._periodic.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._periodic is not None:
            self._periodic.stop(timeout)

    # --- one cycle --------------------------------------------------------
    def sample_once(self) -> float:
        """Sample every VM once; returns the cycle's duration in seconds."""
        start = time.monotonic()
        if not self.ctx.conn.connected:
            return 0.0
        known = [vm for vm in self.ctx.registry.all() if not vm.is_down]
        # an incoming domain belongs to libvirt's migration job until it
        # lands: asking its QEMU would wait and mark it unresponsive
        vms = {vm.id: vm for vm in known
               if vm.status != st.MIGRATION_DESTINATION}
        incoming = len(vms) < len(known)
        with self._lock:
            stuck = set(self._stuck)
            retry = [vm for vm_id, vm in vms.items()
                     if vm_id in stuck and vm_id not in self._probing]
        responsive = [vm for vm_id, vm in vms.items() if vm_id not in stuck]
        records: dict[str, dict] = {}
        if responsive:
            bulk = self._bulk(responsive, all_ours=not stuck and not incoming)
            records = bulk if bulk is not None else self._probe_each(responsive)
        if retry:   # stuck VMs whose last call ended without an answer
            records.update(self._probe_each(retry))
        now = time.time()
        for vm_id, record in records.items():
            vm = vms.get(vm_id)
            if vm is not None:
                self._apply(vm, record, now)
        with self._lock:
            for vm_id, vm in vms.items():
                vm.unresponsive_since = self._stuck.get(vm_id)
        self._forget_gone(vms)
        self.last_cycle = time.monotonic() - start
        return self.last_cycle

    def _bulk(self, vms: list[Vm], *, all_ours: bool) -> dict[str, dict] | None:
        conn = self.ctx.conn.get()
        if all_ours:
            def call() -> Any:
                return conn.getAllDomainStats(STATS, BULK_FLAGS)
        else:
            def call() -> Any:
                doms = [conn.lookupByUUIDString(vm.id) for vm in vms]
                return conn.domainListGetStats(doms, STATS, BULK_FLAGS)
        result = self._run(call)
        if result is None:
            # Also seen with healthy VMs only while another call on the
            # connection hangs: libvirt's client then sometimes holds a
            # call's answer until the next call is made (the probes below).
            log.warning("bulk VM statistics call took over %.1f s; probing "
                        "each VM", self.timeout)
            return None
        return {dom.UUIDString(): record for dom, record in result}

    def _probe_each(self, vms: list[Vm]) -> dict[str, dict]:
        """One call per VM, all in parallel; a hung one marks its VM."""
        conn = self.ctx.conn.get()
        calls = {}
        for vm in vms:
            if not self._reserve():
                log.error("too many hung libvirt statistics calls")
                break

            def call(vm_id: str = vm.id) -> Any:
                dom = conn.lookupByUUIDString(vm_id)
                return conn.domainListGetStats([dom], STATS, 0)
            with self._lock:
                self._probing.add(vm.id)
            calls[vm.id] = _Call(
                call, on_late=lambda c, v=vm.id: self._answered(v, c)).start()
        records: dict[str, dict] = {}
        deadline = time.monotonic() + self.timeout
        for vm_id, c in calls.items():
            if not c.wait(max(0.0, deadline - time.monotonic())):
                self._mark_stuck(vm_id)
                continue
            with self._lock:
                self._pending -= 1
                self._probing.discard(vm_id)
            if c.error is None and c.result:
                records[vm_id] = c.result[0][1]
                if MONITOR_KEY in records[vm_id]:
                    self._unstick(vm_id)
        return records

    def _run(self, func: Callable[[], Any]) -> Any:
        if not self._reserve():
            log.error("too many hung libvirt statistics calls; skipping cycle")
            return None
        c = _Call(func, on_late=lambda _: self._release()).start()
        if not c.wait(self.timeout):
            return None
        self._release()
        if c.error is not None:
            if isinstance(c.error, libvirt.libvirtError):
                log.warning("VM statistics call failed: %s",
                            c.error.get_error_message())
                return []
            raise c.error
        return c.result

    def _reserve(self) -> bool:
        with self._lock:
            if self._pending >= MAX_PENDING_CALLS:
                return False
            self._pending += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _mark_stuck(self, vm_id: str) -> None:
        with self._lock:
            new = vm_id not in self._stuck
            self._stuck.setdefault(vm_id, time.monotonic())
        if new:
            log.warning("vm %s: QEMU does not answer; monitorResponse -1", vm_id)

    def _answered(self, vm_id: str, call: _Call) -> None:
        """A late probe ended: only QEMU's answer clears the VM; an error or
        a record without monitor data (libvirt's wait for the job a hung
        call holds timed out) leaves it stuck, to be probed again."""
        with self._lock:
            self._pending -= 1
            self._probing.discard(vm_id)
        if call.error is None and call.result \
                and MONITOR_KEY in call.result[0][1]:
            self._unstick(vm_id)
        else:
            log.warning("vm %s: still no answer from QEMU (%s); probing again",
                        vm_id, _message(call.error) if call.error
                        else "answered without asking QEMU")

    def _unstick(self, vm_id: str) -> None:
        with self._lock:
            if self._stuck.pop(vm_id, None) is not None:
                log.info("vm %s: QEMU answers again", vm_id)

    def _forget_gone(self, vms: dict[str, Vm]) -> None:
        for vm_id in list(self._prev):
            if vm_id not in vms:
                del self._prev[vm_id]
        with self._lock:
            for vm_id in [v for v in self._stuck if v not in vms]:
                del self._stuck[vm_id]

    # --- turning a record into stats -----------------------------------
    def _apply(self, vm: Vm, record: dict[str, Any], now: float) -> None:
        prev_time, prev = self._prev.get(vm.id, (None, None))
        elapsed = now - prev_time if prev_time else 0.0
        macs = {i["name"]: i["macAddr"] for i in vm.live.get("interfaces", [])
                if i.get("name")}
        sample: dict[str, Any] = {"statsAge": "0.00", "sampleTime": now}
        sample.update(statsconv.cpu(record, prev, elapsed, vm.vmdef.smp))
        sample.update(statsconv.balloon(record, vm.vmdef.mem_mib))
        sample["disks"] = statsconv.disks(record, prev, elapsed)
        sample["network"] = statsconv.nics(record, prev, elapsed, macs, now)
        merged = dict(vm.sample)
        merged.update(sample)
        vm.sample = merged
        self._prev[vm.id] = (now, record)


def _message(error: BaseException) -> str:
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message()
    return str(error)
