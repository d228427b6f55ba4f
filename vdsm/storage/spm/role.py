"""The SPM role: the one host of a pool allowed to change metadata.

spmStart (a host task) waits for the host id on the master domain, takes
the "SDM" resource lease in the master's ``leases`` (sanlock refuses a
second holder; the lease version, LVER, grows with each election),
records POOL_SPM_ID/POOL_SPM_LVER, then starts the pool's task manager,
whose tasks persist in ``<master>/master/tasks`` so that the next SPM
recovers or rolls back what an interrupted one left.

Self-fencing: a watcher checks the host id on the master domain; when it
is lost (storage gone), the host stops being SPM at once. Every write
goes through :meth:`Spm.guard`, so jobs and their rollbacks stop before
writing on, and leave their tasks for the next SPM.

The SPM's mailbox (:mod:`.mailbox_spm`, hosts' extend requests) is made by
an injected factory on the master domain: started once this host is SPM,
stopped before the lease is released, moved with the master.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.common.events import NullPublisher, Publisher
from vdsm.storage import constants as sc
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.errors import (
    DomainAlreadyLocked,
    SpmStartError,
    SpmStatusError,
    TaskInProgress,
)
from vdsm.storage.faults import NO_PAUSE, PausePoints
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.spm.mailbox_spm import SpmMailbox
from vdsm.storage.spm.pool import StoragePool
from vdsm.tasks.context import TaskContext
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry
from vdsm.tasks.task import ErrorCode

log = logging.getLogger(__name__)

FREE = "Free"
CONTEND = "Contend"
SPM = "SPM"

# The SPM's mailbox on a master domain (not started yet), or None where the
# master needs none.
MailboxFactory = Callable[[StorageDomain], "SpmMailbox | None"]


class Spm:
    def __init__(self, pool: StoragePool, leases: LeaseManager, *,
                 registry: RecoveryRegistry, workers: int, error_code: ErrorCode,
                 host_id_timeout: float, fence_interval: float,
                 publisher: Publisher | None = None,
                 pauses: PausePoints = NO_PAUSE,
                 mailbox: MailboxFactory | None = None) -> None:
        self.pool = pool
        self.pauses = pauses
        self.publisher = publisher if publisher is not None else NullPublisher()
        self.leases = leases
        self.registry = registry
        self.workers = workers
        self.error_code = error_code
        self.host_id_timeout = host_id_timeout
        self.fence_interval = fence_interval
        self._lock = threading.Lock()
        self.role = FREE
        self.lver = -1
        self.tasks: TaskManager | None = None
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._mailbox_factory = mailbox
        self.mailbox: SpmMailbox | None = None

    # --- guards -------------------------------------------------------------
    def require(self) -> None:
        """Raise SpmStatusError unless this host is the SPM."""
        if self.role != SPM:
            raise SpmStatusError(
                f"Not SPM: this host is {self.role} in pool {self.pool.sp_uuid}")

    guard = require  # checked before every write of a running job

    # --- start / stop -------------------------------------------------------
    def start_job(self, ctx: TaskContext) -> None:
        """The body of the spmStart task."""
        with self._lock:
            if self.role == SPM:
                return
            if self.role == CONTEND:
                raise SpmStartError("spmStart already in progress")
            self.role = CONTEND
        try:
            self._become_spm(ctx)
        except Exception:
            with self._lock:
                self.role = FREE
            raise

    def check_leases(self) -> None:
        """Raise AcquireHostIdFailure at once when the lease manager cannot
        give host ids (no sanlock daemon): waiting would only time out."""
        self.leases.check_available()

    def _become_spm(self, ctx: TaskContext) -> None:
        master = self.pool.master
        self.check_leases()
        if not self.pool.monitor.wait_for_host_id(self.pool.master_uuid,
                                                  self.host_id_timeout):
            raise SpmStartError(
                f"Host id {self.pool.host_id} not acquired on master domain "
                f"{self.pool.master_uuid} within {self.host_id_timeout:g}s")
        ctx.check_abort()
        try:
            status = self.leases.acquire(self.pool.master_uuid, sc.SDM_LEASE_NAME,
                                         master.leases_path, sc.SDM_LEASE_OFFSET)
        except DomainAlreadyLocked as e:
            raise SpmStartError(f"Error starting SPM: the SPM lease is held by "
                                f"another host ({e.message})") from None
        try:
            master.update_metadata({sc.PMD_SPM_ID: self.pool.host_id,
                                    sc.PMD_SPM_LVER: status.version})
            tasks_dir = os.path.join(master.master_dir, sc.TASKS_DIR)
            master.create_master_dir()
            manager = TaskManager(self.workers, persist_dir=tasks_dir,
                                  registry=self.registry, error_code=self.error_code,
                              publisher=self.publisher)
        except BaseException:
            self._release_lease()
            raise
        with self._lock:
            self.lver = status.version
            self.tasks = manager
            self.role = SPM
        self.pauses.reach("spm_start")
        recovered = manager.recover()
        self._revert_fenced(manager)
        self._start_mailbox()
        log.info("host %s is SPM of pool %s (lver %s); %d stored task(s)",
                 self.pool.host_id, self.pool.sp_uuid, status.version, len(recovered))
        self._start_watcher()

    def _revert_fenced(self, manager: TaskManager) -> None:
        """Roll back the tasks a fenced SPM left: their undo steps refused to
        run there ("Not SPM") and are still on their stacks."""
        not_spm = self.error_code(SpmStatusError())
        for task_id, st in manager.get_all_statuses().items():
            if st["taskResult"] == "cleanFailure" and st["code"] == not_spm:
                log.info("rolling back task %s left by a fenced SPM", task_id)
                manager.revert(task_id)

    def check_idle(self) -> None:
        """Raise TaskInProgress while a pool task still runs."""
        manager = self.tasks
        if manager is not None:
            busy = [t for t, s in manager.get_all_statuses().items()
                    if s["taskState"] not in ("finished",)]
            if busy:
                raise TaskInProgress(f"Running Task in progress: {busy}")

    def stop(self) -> None:
        """spmStop: refused while a task still runs (TaskInProgress)."""
        with self._lock:
            if self.role != SPM:
                return
        self.check_idle()
        self._step_down(write=True)

    def master_moved(self, old_master_dir: str, lver: int) -> None:
        """After a master migration: the lease version is ``lver`` and the
        tasks live in the new master (their records were copied there)."""
        master = self.pool.master
        manager = TaskManager(self.workers,
                              persist_dir=os.path.join(master.master_dir, sc.TASKS_DIR),
                              registry=self.registry, error_code=self.error_code,
                              publisher=self.publisher)
        with self._lock:
            old, self.tasks, self.lver = self.tasks, manager, lver
        self._stop_mailbox()
        self._start_mailbox()
        manager.recover()
        if old is not None:
            old.shutdown(timeout=30)
        try:  # the copies in the new master are the records now
            shutil.rmtree(os.path.join(old_master_dir, sc.TASKS_DIR))
        except OSError as e:
            log.warning("cannot remove the old master's tasks: %s", e)
        log.info("pool %s tasks now kept in %s", self.pool.sp_uuid, master.sd_uuid)

    def _step_down(self, *, write: bool) -> None:
        with self._lock:
            was_spm = self.role == SPM
            self.role = FREE
        self._teardown(write=write and was_spm, release=was_spm)

    def _teardown(self, *, write: bool, release: bool) -> None:
        self._watch_stop.set()
        self._stop_mailbox()
        with self._lock:
            manager, self.tasks = self.tasks, None
        if manager is not None:
            manager.shutdown(timeout=30)
        self._release_master_dir()
        if write:
            try:
                self.pool.master.update_metadata({sc.PMD_SPM_ID: -1})
            except (VdsmError, OSError) as e:
                log.warning("cannot clear the SPM id of pool %s: %s",
                            self.pool.sp_uuid, e)
        if release:
            self._release_lease()
        log.info("host %s is no longer SPM of pool %s", self.pool.host_id,
                 self.pool.sp_uuid)

    def _start_mailbox(self) -> None:
        """Serve the hosts' mailbox; a mailbox that cannot start (its files
        unreadable) is logged: the SPM runs on, thin disks cannot grow."""
        if self._mailbox_factory is None:
            return
        try:
            mailbox = self._mailbox_factory(self.pool.master)
            if mailbox is None:
                return
            mailbox.start()
        except (VdsmError, OSError) as e:
            log.error("SPM mailbox of pool %s not started: %s", self.pool.sp_uuid, e)
            return
        self.mailbox = mailbox

    def _stop_mailbox(self, timeout: float = 10.0) -> None:
        mailbox, self.mailbox = self.mailbox, None
        if mailbox is not None:
            mailbox.stop(timeout)

    def _release_master_dir(self) -> None:
        """Unmount a block master's file system (its tasks are stopped)."""
        try:
            self.pool.master.release_master_dir()
        except (VdsmError, OSError) as e:
            log.error("cannot release the master file system of pool %s: %s",
                      self.pool.sp_uuid, e)

    def _release_lease(self) -> None:
        try:
            self.leases.release(self.pool.master_uuid, sc.SDM_LEASE_NAME,
                                self.pool.master.leases_path, sc.SDM_LEASE_OFFSET)
        except VdsmError as e:
            log.error("cannot release the SPM lease of pool %s: %s",
                      self.pool.sp_uuid, e)

    # --- self-fencing -------------------------------------------------------
    def _start_watcher(self) -> None:
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name="spm-watch")
        self._watcher.start()

    def _watch(self) -> None:
        stop = self._watch_stop
        while not stop.wait(self.fence_interval):
            try:
                held = self.leases.has_host_id(self.pool.master_uuid,
                                               self.pool.host_id,
                                               self.pool.master.ids_path)
            except VdsmError as e:
                log.warning("SPM watcher: %s", e)
                held = False
            if held is False and not stop.is_set():
                self.fence("host id on the master domain was lost")
                return

    def fence(self, reason: str) -> None:
        """Stop acting as SPM at once, without writing to storage."""
        log.error("SPM of pool %s fencing itself: %s", self.pool.sp_uuid, reason)
        with self._lock:
            if self.role != SPM:
                return
            self.role = FREE  # from now on guard() refuses every write
        self._stop_mailbox(timeout=0)  # answers no more, waits for no I/O
        self._release_lease()  # first: the lease manager may be waiting for it
        self._teardown(write=False, release=False)

    # --- reporting and running ---------------------------------------------
    def status(self) -> dict[str, Any]:
        """getSpmStatus's ``spm_st``."""
        with self._lock:
            role, lver = self.role, self.lver
        if role == SPM:
            return {"spmId": self.pool.host_id, "spmStatus": SPM, "spmLver": lver}
        checked = self.pool.monitor.status().get(self.pool.master_uuid)
        if checked is not None and not checked.valid:
            # the master's storage is failing: reading it would only hang
            return {"spmId": -1, "spmStatus": role, "spmLver": -1}
        try:
            lease = self.leases.status(self.pool.master_uuid, sc.SDM_LEASE_NAME,
                                       self.pool.master.leases_path,
                                       sc.SDM_LEASE_OFFSET)
            owner = lease.owners[0].host_id if lease.owners else -1
            version = lease.version
        except VdsmError as e:
            log.warning("cannot read the SPM lease: %s", e)
            try:
                md = self.pool.metadata()
            except VdsmError as e2:  # storage gone: our own role is still known
                log.warning("cannot read the pool metadata: %s", e2)
                md = {}
            owner = int(md.get(sc.PMD_SPM_ID, -1))
            version = int(md.get(sc.PMD_SPM_LVER, -1))
        return {"spmId": owner, "spmStatus": role, "spmLver": version}

    def schedule(self, job: Callable[[TaskContext], Any], *, verb: str,
                 task_id: str | None = None) -> str:
        """Run ``job`` as a persisted pool task; return the task id."""
        self.require()
        manager = self.tasks
        if manager is None:
            raise SpmStatusError("Not SPM")
        return manager.schedule(job, task_id=task_id, persist=True, verb=verb,
                                tags=[self.pool.sp_uuid])

    def run_sync(self, job: Callable[[TaskContext], Any], *, verb: str,
                 timeout: float) -> Any:
        """Run ``job`` as a persisted pool task and wait for it; return its
        result or raise its error. The finished task is cleared."""
        outcome: dict[str, Any] = {}

        def wrapper(ctx: TaskContext) -> Any:
            try:
                outcome["value"] = job(ctx)
            except BaseException as e:
                outcome["error"] = e
                raise
            return outcome["value"]

        task_id = self.schedule(wrapper, verb=verb)
        manager = self.tasks
        assert manager is not None
        if not manager.wait(task_id, timeout):
            raise SpmStatusError(f"{verb} did not finish within {timeout:g}s "
                                 f"(task {task_id})")
        try:
            manager.clear(task_id)
        except VdsmError as e:
            log.warning("cannot clear task %s: %s", task_id, e)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def shutdown(self) -> None:
        """At agent stop: stop the tasks, keep their records for recovery."""
        self._watch_stop.set()
        self._stop_mailbox()
        with self._lock:
            manager, self.tasks = self.tasks, None
            was_spm = self.role == SPM
            self.role = FREE
        if manager is not None:
            manager.shutdown(timeout=10)
        if was_spm:
            self._release_master_dir()
            self._release_lease()
