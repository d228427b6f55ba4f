"""Migrations found running when the agent starts (it was restarted or
killed while one ran): libvirt carries them on without the agent.

An outgoing one is followed until its job ends: the domain gone means it
migrated (Down, MigrationSucceeded), the domain still here means it
failed (back Up or Paused). An incoming one gets the destination's
waiter, as after migrationCreate. The time budget still applies: a
followed job past it is aborted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.errors import VMIsDown
from vdsm.virt.migration import destination, jobstats
from vdsm.virt.migration.outgoing import DONE, FAILED, MIGRATING, OutgoingJob
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import release

log = logging.getLogger(__name__)


def _job(dom: libvirt.virDomain) -> dict[str, Any]:
    try:
        return dom.jobStats(0)
    except libvirt.libvirtError:
        return {}


def adopt(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain) -> None:
    """Take over a migration libvirt runs for ``vm``'s domain, if any."""
    stats = _job(dom)
    operation = stats.get("operation") if jobstats.running(stats) else None
    if operation is None and vm.status != st.PAUSED:
        return   # the common case at start: one cheap call per domain
    try:
        state, reason = dom.state()
    except libvirt.libvirtError:
        return
    if operation == libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT:
        log.info("vm %s: found migrating out; following it", vm.id)
        job = RecoveredOutgoing(ctx, vm)
        vm.migration = job
        vm.set_status(st.MIGRATION_SOURCE)
        job.start()
    elif operation == libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN or (
            state == st.DOM_PAUSED and reason == st.PAUSED_MIGRATION):
        log.info("vm %s: found migrating in; waiting for it", vm.id)
        vm.set_status(st.MIGRATION_DESTINATION)
        ctx.incoming.try_acquire()
        threading.Thread(target=destination.follow_incoming, args=(ctx, vm),
                         daemon=True, name=f"migdst-{vm.id[:8]}").start()


class RecoveredOutgoing(OutgoingJob):
    """An adopted outgoing job, followed until it ends."""

    def __init__(self, ctx: VirtContext, vm: Vm) -> None:
        super().__init__(ctx, vm, phase=MIGRATING,
                         message="Migration in progress (recovered)")

    def start(self) -> None:
        threading.Thread(target=self._follow, daemon=True,
                         name=f"migsrc-{self.vm.id[:8]}").start()

    def cancel(self) -> None:
        self.vm.domain(self.ctx.conn.get()).abortJob()

    def change(self, *, max_bandwidth: int | None, downtime: int | None) -> None:
        self.set_limits(self.vm.domain(self.ctx.conn.get()),
                        bandwidth=max_bandwidth, downtime=downtime)

    def _follow(self) -> None:
        settings = self.ctx.migration
        budget = (settings.time_budget(self.vm.vmdef.mem_mib) or 3600.0) \
            + settings.progress_timeout
        deadline = time.monotonic() + budget
        dom: libvirt.virDomain | None = None
        try:
            while time.monotonic() < deadline + settings.progress_timeout:
                try:
                    dom = self.vm.domain(self.ctx.conn.get())
                except VMIsDown:   # gone: it migrated
                    dom = None
                except (VdsmError, libvirt.libvirtError) as e:
                    log.warning("vm %s: cannot follow the migration: %s",
                                self.vm.id, e)
                    self.vm.wait_status((st.DOWN,), settings.monitor_interval)
                    continue
                stats = _job(dom) if dom is not None else {}
                if dom is None or not jobstats.running(stats):
                    break
                self.progress = jobstats.progress(stats)
                self.figures = jobstats.summary(stats)
                if time.monotonic() > deadline:
                    log.warning("vm %s: recovered migration past its budget "
                                "of %.0f s; aborting", self.vm.id, budget)
                    dom.abortJob()
                self.vm.wait_status((st.DOWN,), settings.monitor_interval)
            else:
                log.error("vm %s: the recovered migration did not end after "
                          "its abort", self.vm.id)
                if dom is None:   # libvirt never answered: nothing to conclude
                    self.phase = FAILED
                    self.result = (12, "Migration state unknown: libvirt did "
                                   "not answer")
                    return
            self._ended(dom)
        finally:
            self.finished.set()

    def _ended(self, dom: libvirt.virDomain | None) -> None:
        state = None
        if dom is not None:
            try:
                state, _ = dom.state()
            except libvirt.libvirtError:
                state = None
        if state is None:
            self.phase, self.progress = DONE, 100
            self.result = (0, "Migration done")
            self.vm.set_status(st.DOWN, exit=st.exit_info(st.MIGRATION_SUCCEEDED))
            release(self.ctx, self.vm)
            log.info("vm %s: the recovered migration succeeded", self.vm.id)
            return
        self.phase = FAILED
        self.result = (12, "Migration failed (while the agent was away)")
        self.vm.set_status(st.from_domain_state(state),
                           only_from=(st.MIGRATION_SOURCE,))
        log.warning("vm %s: the recovered migration failed; the VM stays",
                    self.vm.id)
