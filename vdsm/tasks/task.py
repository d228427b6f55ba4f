"""One asynchronous task: a job, its undo steps, its state and result.

A task runs its job once on a worker. If the job fails or is stopped, the
undo steps registered so far run in reverse order ("rollback"): the task
ends ``recovered`` (cleanSuccess) or ``failed`` (cleanFailure). A persistent
task writes its record on every change, so another process can report it
or roll it back after a crash. Every state change is published as
``|tasks|status|<taskID>`` with the task's status once it is recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.common.events import NullPublisher, Publisher, event_id, publish_safely
from vdsm.tasks import state as states
from vdsm.tasks.context import TaskContext
from vdsm.tasks.errors import (
    TaskAborted,
    TaskMetaDataLoadError,
    TaskNotFinished,
    TaskStateError,
)
from vdsm.tasks.persistence import Recorder, TaskStore
from vdsm.tasks.recovery import RecoveryRegistry, RecoveryStep
from vdsm.tasks.state import State

log = logging.getLogger(__name__)

Job = Callable[[TaskContext], Any]
ErrorCode = Callable[[BaseException], int]

# The classic code of a task that failed for an unknown reason.
GENERAL_ERROR_CODE = 100
# How long clearTask waits for a done state still being written to disk.
RETIRE_WAIT = 10.0


def general_error_code(error: BaseException) -> int:
    """Fallback when no name -> code table is given to the manager."""
    return GENERAL_ERROR_CODE


class Task:
    """A task and its state machine; every public method is thread-safe.

    State changes happen under ``_lock``; the resulting record is written
    outside it (numbered, newest wins), so readers never wait on disk.
    """

    def __init__(self, task_id: str, *, verb: str, registry: RecoveryRegistry,
                 job: Job | None = None, tags: Iterable[str] = (),
                 store: TaskStore | None = None,
                 error_code: ErrorCode = general_error_code,
                 publisher: Publisher | None = None) -> None:
        self.id = task_id
        self._publisher = publisher if publisher is not None else NullPublisher()
        self._published: State | None = None
        self.verb = verb
        self.tags = list(tags)
        self._job = job
        self._registry = registry
        self._recorder = Recorder(store, task_id) if store is not None else None
        self._error_code = error_code
        self._state = State.INIT
        self._code = 0
        self._message = "Task is initializing"
        self._result: Any = ""
        self._error = ""
        self._recoveries: list[RecoveryStep] = []
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()  # taken before _lock, never after
        self._abort = threading.Event()
        self._done = threading.Event()
        self._retired = False
        self._progress: int | None = None  # percent, for jobs that report it

    # Reading

    @property
    def state(self) -> State:
        return self._state

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def persistent(self) -> bool:
        return self._recorder is not None

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait until the task is done; False on timeout."""
        return self._done.wait(timeout)

    def wait_abort(self, timeout: float) -> bool:
        return self._abort.wait(timeout)

    def status(self) -> dict[str, Any]:
        """The classic task status (``taskStatus`` payload)."""
        with self._lock:
            return self._status_locked()

    def _status_locked(self) -> dict[str, Any]:
        return {
            "taskID": self.id,
            "taskState": states.public_state(self._state),
            "taskResult": states.public_result(self._state),
            "code": self._code,
            "message": self._message,
        }

    def info(self) -> dict[str, Any]:
        """The classic ``TaskInfo``, with ``progress`` (percent) once the
        job reported some."""
        info: dict[str, Any] = {"id": self.id, "verb": self.verb}
        progress = self._progress
        if progress is not None:
            info["progress"] = progress
        return info

    def set_progress(self, percent: float) -> None:
        """Record how far the job is (0-100); kept in memory only."""
        self._progress = max(0, min(100, int(percent)))

    def details(self) -> dict[str, Any]:
        """The classic task details of ``Host.getAllTasks``."""
        with self._lock:
            return {
                "id": self.id,
                "verb": self.verb,
                "state": str(self._state),
                "code": self._code,
                "message": self._message,
                "result": self._result,
                "tag": ",".join(self.tags),
            }

    # Life cycle, driven by the manager

    def queue(self) -> None:
        """init -> queued; raises TaskPersistError if it cannot be recorded."""
        with self._lock:
            self._set_state(State.QUEUED)
            self._message = "Task is queued"
            snap = self._snapshot()
        self._commit(snap, strict=True)

    def run(self) -> None:
        """Run the job on the calling worker, then roll back if it failed."""
        with self._lock:
            if self._state is not State.QUEUED:
                log.debug("Task %s not started: it is %s", self.id, self._state)
                return
            self._set_state(State.RUNNING)
            self._message = "running job 1 of 1"
            snap = self._snapshot()
        self._commit(snap)
        log.info("Task %s (%s) started", self.id, self.verb)
        error: Exception | None = None
        result = None
        try:
            result = self._job(TaskContext(self))
        except Exception as e:  # the job's failure becomes the task's result
            error = e
        with self._lock:
            if error is None and self._abort.is_set():
                error = TaskAborted(f"Task {self.id} was stopped")
            if error is None:
                self._set_state(State.FINISHED)
                self._code, self._message = 0, "1 jobs completed successfully"
                self._result = "" if result is None else result
            else:
                self._record_error(error)
                if self._state is State.RUNNING:
                    self._set_state(State.ABORTING)
            snap = self._snapshot()
        self._commit(snap)
        if error is None:
            log.info("Task %s (%s) finished", self.id, self.verb)
        else:
            self.rollback()

    def stop(self) -> None:
        """Ask the job to stop; a queued task is rolled back at once."""
        with self._lock:
            if self._state not in (State.QUEUED, State.RUNNING):
                log.info("Task %s is %s, not stopping it", self.id, self._state)
                return
            log.info("Stopping task %s in state %s", self.id, self._state)
            never_ran = self._state is State.QUEUED
            self._abort.set()
            if never_ran:
                self._record_error(TaskAborted(f"Task {self.id} stopped before it ran"))
            self._set_state(State.ABORTING)
            snap = self._snapshot()
        self._commit(snap)
        if never_ran:
            self.rollback()

    def interrupt(self) -> None:
        """Mark a task loaded from disk, that was cut short, as aborting."""
        with self._lock:
            if self._done.is_set():
                return
            if self._state in (State.INIT, State.QUEUED, State.RUNNING):
                self._record_error(
                    TaskAborted(f"Task {self.id} was interrupted by a restart"))
            self._abort.set()
            self._set_state(State.ABORTING, force=True)
            snap = self._snapshot()
        self._commit(snap)

    def start_revert(self) -> None:
        """done -> recovering, before :meth:`run_recoveries` runs on a worker.

        Raises TaskNotFinished unless the task is done.
        """
        with self._lock:
            if self._retired:
                raise TaskStateError(f"Task {self.id} was cleared")
            if not self._done.is_set():
                raise TaskNotFinished(f"Cannot revert task {self.id} in state "
                                      f"{self._state}")
            self._set_state(State.RECOVERING)
            snap = self._snapshot()
        self._commit(snap)

    def retire(self) -> None:
        """Refuse any further change, before the task is cleared.

        Raises TaskStateError unless the task is done. A done state still
        being written (status shows it already) is waited for, bounded.
        """
        with self._lock:
            committing = self._state in states.DONE
        if committing:
            self._done.wait(RETIRE_WAIT)
        with self._lock:
            if not self._done.is_set():
                raise TaskStateError(f"Cannot clear task {self.id} in state "
                                     f"{self._state}")
            self._retired = True
        if self._recorder is not None:
            self._recorder.close()

    def rollback(self) -> None:
        """aborting -> recovering, then run the undo steps."""
        self._move(State.RECOVERING)
        self.run_recoveries()

    def run_recoveries(self) -> None:
        """Run the undo steps last first; each is dropped once it succeeded.

        The first failing step ends the task ``failed`` and stays on the
        stack, so a later revert retries it.
        """
        while True:
            with self._lock:
                if not self._recoveries:
                    break
                step = self._recoveries[-1]
            try:
                self._registry.run(step)
            except Exception as e:  # a failed undo step becomes the task's result
                self._log_error(f"Task {self.id} rollback step {step.name}", e)
                with self._lock:
                    self._set_state(State.FAILED)
                    self._code = self._error_code(e)
                    self._message = f"Rollback step {step.name} failed: {e}"
                    snap = self._snapshot()
                self._commit(snap)
                return
            with self._lock:
                if self._recoveries and self._recoveries[-1] is step:
                    self._recoveries.pop()
                snap = self._snapshot()
            self._commit(snap)
        self._move(State.RECOVERED)
        log.info("Task %s rolled back", self.id)

    # Undo steps, from the job's context

    def push_recovery(self, name: str, args: dict[str, Any] | None) -> None:
        step = self._registry.step(name, args)
        with self._lock:
            if self._state not in (State.RUNNING, State.ABORTING):
                raise TaskStateError(f"Cannot add recovery in state {self._state}")
            self._recoveries.append(step)
            snap = self._snapshot()
        self._commit(snap, strict=True)

    def clear_recoveries(self) -> None:
        with self._lock:
            if self._state is not State.RUNNING:
                raise TaskStateError(f"Cannot clear recoveries in state {self._state}")
            self._recoveries.clear()
            snap = self._snapshot()
        self._commit(snap, strict=True)

    # Persistence

    @classmethod
    def from_record(cls, record: dict[str, Any], *, registry: RecoveryRegistry,
                    store: TaskStore,
                    error_code: ErrorCode = general_error_code,
                    publisher: Publisher | None = None) -> Task:
        """Rebuild a task read from disk; raises TaskMetaDataLoadError."""
        try:
            task = cls(record["id"], verb=record.get("verb", ""),
                       tags=record.get("tags", ()), registry=registry,
                       store=store, error_code=error_code, publisher=publisher)
            task._state = State(record["state"])
            task._code = int(record.get("code", 0))
            task._message = str(record.get("message", ""))
            task._result = record.get("result", "")
            task._error = str(record.get("error", ""))
            task._recoveries = [RecoveryStep.from_record(r)
                                for r in record.get("recoveries", [])]
        except (KeyError, TypeError, ValueError, VdsmError) as e:
            raise TaskMetaDataLoadError(f"Bad task record: {e}") from e
        if task._state in states.DONE:
            task._done.set()
        return task

    def _record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verb": self.verb,
            "tags": self.tags,
            "state": str(self._state),
            "code": self._code,
            "message": self._message,
            "result": self._result,
            "error": self._error,
            "recoveries": [r.to_record() for r in self._recoveries],
        }

    def _snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """Called under ``_lock``: the record to write after releasing it."""
        return self._recorder.take(self._record()) if self._recorder else None

    def _commit(self, snap: tuple[int, dict[str, Any]] | None, *,
                strict: bool = False) -> None:
        """Persist a snapshot, then let waiters see a done state.

        Waiters wake only once the final state is on disk, so a cleared
        task cannot be written again; then a new state is published, in
        order (``_publish_lock``) but outside ``_lock``, so a sink may read
        the task. Raises TaskPersistError if ``strict``.
        """
        if snap is not None and self._recorder is not None:
            self._recorder.write(snap, strict=strict)
        with self._publish_lock:
            with self._lock:
                if self._state in states.DONE:
                    self._done.set()
                status = None
                if self._state is not self._published:
                    self._published = self._state
                    status = self._status_locked()
            if status is not None:
                publish_safely(self._publisher,
                               event_id("tasks", "status", self.id), status)

    def _move(self, new: State) -> None:
        with self._lock:
            self._set_state(new)
            snap = self._snapshot()
        self._commit(snap)

    # Helpers, called under _lock

    def _set_state(self, new: State, *, force: bool = False) -> None:
        if not force:
            states.check_move(self._state, new)
        log.debug("Task %s: %s -> %s", self.id, self._state, new)
        self._state = new
        if new not in states.DONE:
            self._done.clear()  # set by _commit once the state is on disk

    def _record_error(self, error: Exception) -> None:
        self._log_error(f"Task {self.id} ({self.verb}) failed", error)
        self._error = getattr(error, "name", type(error).__name__)
        self._code = self._error_code(error)
        self._message = str(error) or type(error).__name__

    @staticmethod
    def _log_error(what: str, error: Exception) -> None:
        if isinstance(error, VdsmError):
            log.info("%s: %s", what, error)
        else:
            log.error("%s unexpectedly", what, exc_info=error)
