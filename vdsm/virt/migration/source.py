"""The source half of a live migration: one thread per migrating VM.

``start`` checks the request and turns the VM to Migration Source; the
thread then waits for an outgoing slot, runs the before_vm_migrate_source
hooks, asks the destination agent to prepare the VM (``migrationCreate``),
and runs libvirt's peer-to-peer migration while it watches the job's
progress against the convergence policy. Success leaves the VM Down with
MigrationSucceeded (libvirt's STOPPED/MIGRATED event, or this thread when
the call returns first); any failure returns it to the status it had, with
the reason kept for migrateStatus, and destroys the destination's
half-made VM. Nothing here raises out of the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.common.events import event_id, publish_safely
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.migration import jobstats
from vdsm.virt.migration.convergence import Convergence
from vdsm.virt.migration.outgoing import (
    DONE,
    FAILED,
    MIGRATING,
    PREPARING,
    QUEUED,
    OutgoingJob,
)
from vdsm.virt.migration.params import Action, MigrateRequest, default_schedule
from vdsm.virt.migration.peer import Peer, PeerError
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import run_hook

log = logging.getLogger(__name__)

SLOT_WAIT = 600.0   # s a migration may queue for an outgoing slot
MIGRATION_ERROR = 12
CANCELLED = "Migration canceled"


class MigrationAborted(Exception):
    """The monitor (or a cancel) aborted the libvirt job; carries why."""


class SourceMigration(OutgoingJob):
    def __init__(self, ctx: VirtContext, vm: Vm, req: MigrateRequest) -> None:
        super().__init__(ctx, vm, phase=QUEUED, message="Migration in progress")
        self.req = req
        self.settings = ctx.migration
        self.started = time.monotonic()
        self._cancelled = threading.Event()
        self._abort_reason = ""
        self._lock = threading.Lock()
        self._peer: Peer | None = None  # the destination, once it prepared
        self._src_xml = ""              # the migratable domain XML
        self._dest_xml = ""             # as the destination's hooks left it
        self._changed: dict[str, int] = {}   # by migrateChangeParams
        self._sending = False

    # --- what the verbs call -------------------------------------------
    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True,
                         name=f"migsrc-{self.vm.id[:8]}").start()

    def cancel(self) -> None:
        log.info("vm %s: migration cancel requested", self.vm.id)
        self._abort(CANCELLED)
        self.ctx.outgoing.wake()

    def change(self, *, max_bandwidth: int | None, downtime: int | None) -> None:
        """Raise or lower the limits of the running job.

        Applied at once and again when QEMU starts sending: libvirt sets
        the request's own bandwidth when the job begins, after a change
        made during the setup."""
        with self._lock:
            if max_bandwidth is not None:
                self._changed["bandwidth"] = max_bandwidth
            if downtime is not None:
                self._changed["downtime"] = downtime
        self._apply_changes(self.vm.domain(self.ctx.conn.get()))

    def _apply_changes(self, dom: libvirt.virDomain) -> None:
        with self._lock:
            changed = dict(self._changed)
        self.set_limits(dom, bandwidth=changed.get("bandwidth"),
                        downtime=changed.get("downtime"))

    # --- the thread ------------------------------------------------------
    def _abort(self, reason: str) -> None:
        with self._lock:
            if self._cancelled.is_set():
                return
            self._abort_reason = reason
            self._cancelled.set()
            migrating = self.phase == MIGRATING
        if migrating:
            try:
                self._abort_job(self.vm.domain(self.ctx.conn.get()))
            except VdsmError as e:
                log.warning("vm %s: cannot abort the migration job: %s",
                            self.vm.id, e)

    def _abort_job(self, dom: libvirt.virDomain) -> None:
        try:
            dom.abortJob()
        except libvirt.libvirtError as e:
            log.warning("vm %s: cannot abort the migration job: %s",
                        self.vm.id, e.get_error_message())

    def _run(self) -> None:
        try:
            if not self.ctx.outgoing.acquire(SLOT_WAIT, self._cancelled.is_set):
                raise MigrationAborted(self._abort_reason or
                                       "no outgoing migration slot")
            try:
                self._prepare()
                self._migrate()
            finally:
                self.ctx.outgoing.release()
        except MigrationAborted as e:
            self._failed(str(e))
        except PeerError as e:
            self._failed(e.message, code=e.code)
        except VdsmError as e:
            self._failed(e.message)
        except libvirt.libvirtError as e:
            self._failed(self._abort_reason or e.get_error_message())
        except Exception as e:
            log.exception("vm %s: migration failed unexpectedly", self.vm.id)
            self._failed(f"Internal error: {e}")
        else:
            self._succeeded()
        finally:
            self.finished.set()

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise MigrationAborted(self._abort_reason)

    def _prepare(self) -> None:
        self.phase = PREPARING
        self._publish()
        dom = self.vm.domain(self.ctx.conn.get())
        xml = self._src_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE
                                          | libvirt.VIR_DOMAIN_XML_MIGRATABLE)
        run_hook(self.ctx, self.vm, "before_vm_migrate_source", xml)
        self._check()
        params = dict(self.vm.conf)
        params.update({"vmId": self.vm.id, "_srcDomXML": xml,
                       "startTime": self.vm.start_time,
                       "elapsedTimeOffset": self.vm.elapsed()})
        peer = self.ctx.peers(self.req.dst_host, self.req.dst_port)
        log.info("vm %s: asking %s to prepare the incoming VM", self.vm.id,
                 self.req.dst)
        answer = peer.call("migrationCreate", params,
                           self.req.incoming_limit or 0)
        self._peer = peer   # from now on a failure destroys its VM there
        self._dest_xml = (answer.get("params") or {}).get("xml") or ""
        self._check()

    def _flags(self) -> int:
        req = self.req
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        for wanted, flag in ((req.tunneled, libvirt.VIR_MIGRATE_TUNNELLED),
                             (req.compressed, libvirt.VIR_MIGRATE_COMPRESSED),
                             (req.auto_converge, libvirt.VIR_MIGRATE_AUTO_CONVERGE),
                             (req.abort_on_error, libvirt.VIR_MIGRATE_ABORT_ON_ERROR),
                             (req.encrypted, libvirt.VIR_MIGRATE_TLS),
                             (req.parallel > 0, libvirt.VIR_MIGRATE_PARALLEL),
                             (req.zerocopy, libvirt.VIR_MIGRATE_ZEROCOPY)):
            if wanted:
                flags |= flag
        if req.schedule is not None and req.schedule.uses_postcopy:
            flags |= libvirt.VIR_MIGRATE_POSTCOPY
        return flags

    def _libvirt_params(self) -> dict[str, Any]:
        req = self.req
        params: dict[str, Any] = {}
        if req.max_bandwidth:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = req.max_bandwidth
        if req.dstqemu and not req.tunneled:
            host = f"[{req.dstqemu}]" if ":" in req.dstqemu else req.dstqemu
            params[libvirt.VIR_MIGRATE_PARAM_URI] = f"tcp://{host}"
        spice = [g for g in self.vm.live.get("graphics") or []
                 if g["type"] == "spice"]
        if req.console_address and spice:
            # SPICE clients are relocated there (VNC clients reconnect)
            params[libvirt.VIR_MIGRATE_PARAM_GRAPHICS_URI] = \
                f"spice://{req.console_address}"
        if req.parallel:
            params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = req.parallel
        if self._dest_xml and self._dest_xml != self._src_xml:
            params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = self._dest_xml
        return params

    def dest_uri(self) -> str:
        req = self.req
        return self.settings.libvirt_uri.format(
            host=req.dst_host, dstqemu=req.dstqemu or req.dst_host)

    def _migrate(self) -> None:
        dom = self.vm.domain(self.ctx.conn.get())
        max_downtime = self.req.downtime or self.settings.downtime
        schedule = self.req.schedule or default_schedule(
            max_downtime, self.settings.downtime_steps)
        policy = Convergence(schedule, max_downtime=max_downtime,
                             progress_timeout=self.settings.progress_timeout,
                             time_budget=self.settings.time_budget(
                                 self.vm.vmdef.mem_mib),
                             started=time.monotonic())
        for action in policy.initial():
            self._apply(dom, action)
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                dom.migrateToURI3(self.dest_uri(), self._libvirt_params(),
                                  self._flags())
            except libvirt.libvirtError as e:
                outcome["error"] = e
            finally:
                done.set()

        with self._lock:
            self._check()
            self.phase = MIGRATING
        log.info("vm %s: migrating to %s (libvirt %s, data %s, max downtime "
                 "%d ms, bandwidth %s)", self.vm.id, self.req.dst,
                 self.dest_uri(), self.req.dstqemu or "default", max_downtime,
                 f"{self.req.max_bandwidth} MiB/s" if self.req.max_bandwidth
                 else "unlimited")
        threading.Thread(target=call, daemon=True,
                         name=f"migcall-{self.vm.id[:8]}").start()
        while not done.wait(self.settings.monitor_interval):
            self._look(dom, policy)
        if "error" in outcome:
            raise outcome["error"]

    def _look(self, dom: libvirt.virDomain, policy: Convergence) -> None:
        if self._cancelled.is_set():
            # aborted before libvirt's job could be: abort it now
            self._abort_job(dom)
            return
        try:
            stats = dom.jobStats(0)
        except libvirt.libvirtError as e:
            log.debug("vm %s: job stats: %s", self.vm.id, e.get_error_message())
            return
        if not jobstats.started(stats):
            return   # setting up: QEMU counts nothing yet (remaining 0)
        if not self._sending:
            self._sending = True
            if self._changed:
                try:
                    self._apply_changes(dom)
                except libvirt.libvirtError as e:
                    log.warning("vm %s: cannot apply the changed migration "
                                "parameters: %s", self.vm.id,
                                e.get_error_message())
        # never backwards: a raised downtime starts a pass with more to send
        self.progress = max(self.progress, jobstats.progress(stats))
        self.figures = jobstats.summary(stats)
        if policy.downtime is not None:
            self.figures["maxDowntime"] = policy.downtime
        self._publish()
        log.info("vm %s: migration progress %d%%, %s of %s bytes remaining, "
                 "memory iteration %s", self.vm.id, self.progress,
                 stats.get("data_remaining"), stats.get("data_total"),
                 stats.get("memory_iteration"))
        decision = policy.observe(time.monotonic(),
                                  int(stats.get("data_remaining", 0)),
                                  stats.get("memory_iteration"))
        for action in decision.actions:
            self._apply(dom, action)
        if decision.abort:
            log.warning("vm %s: %s; aborting", self.vm.id, decision.message)
            self._abort(decision.message)

    def _apply(self, dom: libvirt.virDomain, action: Action) -> None:
        try:
            if action.name == "setDowntime" and action.value is not None:
                dom.migrateSetMaxDowntime(action.value, 0)
            elif action.name == "postcopy":
                dom.migrateStartPostCopy(0)
            log.info("vm %s: migration convergence: %s", self.vm.id, action)
        except libvirt.libvirtError as e:
            log.warning("vm %s: convergence action %s failed: %s", self.vm.id,
                        action, e.get_error_message())

    def _publish(self) -> None:
        publish_safely(self.ctx.publisher,
                       event_id("virt", "VM_migration_status", self.vm.id),
                       {self.vm.id: {"progress": self.progress,
                                     "phase": self.phase}})

    # --- endings ---------------------------------------------------------
    def _succeeded(self) -> None:
        self.progress = 100
        self.phase = DONE
        self.result = (0, "Migration done")
        took = time.monotonic() - self.started
        self.figures["elapsedMs"] = int(took * 1000)
        log.info("vm %s: migrated to %s in %.2f s", self.vm.id, self.req.dst,
                 took)
        self.vm.set_status(st.DOWN, exit=st.exit_info(st.MIGRATION_SUCCEEDED))
        self._publish()
        try:
            run_hook(self.ctx, self.vm, "after_vm_migrate_source",
                     self.vm.live.get("xml"))
        except VdsmError as e:
            log.warning("vm %s: after_vm_migrate_source: %s", self.vm.id,
                        e.message)

    def _failed(self, message: str, code: int = MIGRATION_ERROR) -> None:
        self.phase = FAILED
        self.result = (code, message)
        log.error("vm %s: migration to %s failed: %s", self.vm.id,
                  self.req.dst, message)
        if self._peer is not None:
            # migrationCreate was sent: whatever the destination made of it
            try:
                self._peer.call("destroy", self.vm.id)
            except VdsmError as e:
                log.warning("vm %s: cannot destroy the VM on %s: %s",
                            self.vm.id, self.req.dst, e.message)
        self._restore_status()
        self._publish()

    def _restore_status(self) -> None:
        try:
            state, _ = self.vm.domain(self.ctx.conn.get()).state()
        except (libvirt.libvirtError, VdsmError) as e:
            log.error("vm %s: after the failed migration the domain is gone "
                      "(%s)", self.vm.id, e)
            return
        self.vm.set_status(st.from_domain_state(state),
                           only_from=(st.MIGRATION_SOURCE,))
