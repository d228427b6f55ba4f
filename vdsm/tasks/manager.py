"""The task manager: schedules jobs on bounded workers, reports, recovers.

Its methods answer the classic task verbs with the payload value (the API
layer adds the envelope): ``get_status`` -> Task.getStatus ``taskStatus``,
``get_all_statuses`` -> Host.getAllTasksStatuses ``allTasksStatus``,
``get_info`` -> Task.getInfo ``TaskInfo``, ``get_all_info`` ->
Host.getAllTasksInfo ``allTasksInfo``, ``get_all_tasks`` ->
Host.getAllTasks ``tasks``; ``stop``, ``clear`` and ``revert`` answer
Task.stop, Task.clear and Task.revert and return nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.common.events import NullPublisher, Publisher
from vdsm.tasks.errors import (
    AddTaskError,
    InvalidJob,
    TaskClearError,
    TaskDirError,
    TaskMetaDataLoadError,
    TaskPersistError,
    UnknownTask,
)
from vdsm.tasks.persistence import TaskStore
from vdsm.tasks.pool import WorkerPool
from vdsm.tasks.recovery import RecoveryRegistry
from vdsm.tasks.task import ErrorCode, Job, Task, general_error_code

log = logging.getLogger(__name__)


class TaskManager:
    """Runs jobs as tasks on ``workers`` threads; thread-safe.

    ``persist_dir`` is where persistent tasks keep their state
    (``<persist_dir>/<taskID>/task.json``); ``registry`` names the undo
    functions tasks may register; ``error_code`` maps a job's exception to
    the task's numeric code (the API's name -> code table; without it every
    failure has the classic generic code 100); ``publisher`` gets every
    task's state changes (``|tasks|status|<taskID>``).
    """

    def __init__(self, workers: int, *, persist_dir: str | None = None,
                 registry: RecoveryRegistry | None = None,
                 error_code: ErrorCode = general_error_code,
                 publisher: Publisher | None = None) -> None:
        self._publisher = publisher if publisher is not None else NullPublisher()
        self.registry = registry if registry is not None else RecoveryRegistry()
        self._store = TaskStore(persist_dir) if persist_dir is not None else None
        self._error_code = error_code
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._pool = WorkerPool(workers)

    # Running

    def schedule(self, job: Job, *, task_id: str | None = None,
                 persist: bool = False, verb: str | None = None,
                 tags: Iterable[str] = ()) -> str:
        """Queue ``job(context)`` as a new task and return its id.

        Raises InvalidParameter for a malformed id, AddTaskError for an id
        in use or after shutdown, TaskPersistError if ``persist`` and the
        state cannot be written (or there is no persist_dir).
        """
        if not callable(job):
            raise InvalidJob(f"Job {job!r} is not callable")
        task_id = _checked_id(task_id) if task_id is not None else str(uuid.uuid4())
        if persist and self._store is None:
            raise TaskPersistError("Task manager has no persist directory")
        store = self._store if persist else None
        task = Task(task_id, verb=verb or getattr(job, "__name__", "job"),
                    job=job, tags=tags, registry=self.registry, store=store,
                    error_code=self._error_code, publisher=self._publisher)
        with self._lock:
            if self._closed:
                raise AddTaskError("Task manager is shut down")
            if task_id in self._tasks or (
                    store is not None and os.path.exists(store.task_dir(task_id))):
                raise AddTaskError(f"Task id already in use: {task_id}")
            self._tasks[task_id] = task
        try:
            task.queue()
            self._pool.submit(task.run)
        except (TaskPersistError, RuntimeError) as e:
            self._forget(task)
            if isinstance(e, RuntimeError):
                raise AddTaskError(f"Cannot queue task {task_id}: {e}") from e
            raise
        log.info("Task %s (%s) scheduled", task_id, task.verb)
        return task_id

    def stop(self, task_id: str) -> None:
        """Abort a task: the job sees ``aborting``, then its rollback runs.

        Stopping a task that is done or already rolling back does nothing.
        """
        self._get(task_id).stop()

    def revert(self, task_id: str) -> None:
        """Run the remaining undo steps of a done task on a worker.

        Raises TaskNotFinished unless the task is done.
        """
        task = self._get(task_id)
        task.start_revert()
        try:
            self._pool.submit(task.run_recoveries)
        except RuntimeError:
            log.warning("Workers are shut down, reverting task %s inline", task_id)
            task.run_recoveries()

    def clear(self, task_id: str) -> None:
        """Forget a done task, on disk too.

        Raises TaskStateError if it is not done, TaskClearError if its
        state cannot be removed from disk.
        """
        task = self._get(task_id)
        task.retire()
        if task.persistent and self._store is not None:
            try:
                self._store.remove(task_id)
            except TaskDirError as e:
                raise TaskClearError(str(e)) from e
        with self._lock:
            self._tasks.pop(task_id, None)
        log.info("Task %s cleared", task_id)

    def wait(self, task_id: str, timeout: float) -> bool:
        """Wait until a task is done; False on timeout."""
        return self._get(task_id).wait(timeout)

    def shutdown(self, timeout: float) -> bool:
        """Stop every task and the workers, waiting at most ``timeout`` s.

        Queued tasks end at once; running ones are asked to abort and roll
        back. Returns False if some worker was still busy at the deadline.
        """
        with self._lock:
            self._closed = True
            tasks = list(self._tasks.values())
        for task in tasks:
            task.stop()
        return self._pool.shutdown(timeout)

    def recover(self) -> list[str]:
        """Load the tasks persisted by an earlier process; return their ids.

        Done tasks are reported again as they ended; tasks cut short are
        rolled back on the workers with their persisted undo steps (a step
        with no registered function ends the task ``failed``).
        """
        if self._store is None:
            return []
        loaded = []
        for record in self._store.load_all():
            try:
                task = Task.from_record(record, registry=self.registry,
                                        store=self._store,
                                        error_code=self._error_code,
                                        publisher=self._publisher)
            except TaskMetaDataLoadError as e:
                log.warning("Skipping stored task %s: %s", record.get("id"), e)
                continue
            with self._lock:
                if task.id in self._tasks:
                    log.warning("Stored task %s is already known", task.id)
                    continue
                self._tasks[task.id] = task
            loaded.append(task.id)
            if task.done:
                log.info("Recovered task %s, %s", task.id, task.state)
                continue
            log.info("Rolling back task %s, interrupted while %s",
                     task.id, task.state)
            task.interrupt()
            self._pool.submit(task.rollback)
        return loaded

    # Reporting

    def get_status(self, task_id: str) -> dict[str, Any]:
        return self._get(task_id).status()

    def get_info(self, task_id: str) -> dict[str, Any]:
        return self._get(task_id).info()

    def get_all_statuses(self, tag: str | None = None) -> dict[str, dict[str, Any]]:
        return {t.id: t.status() for t in self._select(tag)}

    def get_all_info(self, tag: str | None = None) -> dict[str, dict[str, Any]]:
        return {t.id: t.info() for t in self._select(tag)}

    def get_all_tasks(self) -> dict[str, dict[str, Any]]:
        return {t.id: t.details() for t in self._select(None)}

    # Helpers

    def _get(self, task_id: str) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTask(f"Task id unknown: {task_id}", taskID=task_id)
        return task

    def _select(self, tag: str | None) -> list[Task]:
        with self._lock:
            tasks = list(self._tasks.values())
        return [t for t in tasks if tag is None or tag in t.tags]

    def _forget(self, task: Task) -> None:
        with self._lock:
            self._tasks.pop(task.id, None)
        if task.persistent and self._store is not None:
            try:
                self._store.remove(task.id)
            except TaskDirError as e:
                log.error("Cannot remove state of unqueued task %s: %s", task.id, e)


def _checked_id(task_id: str) -> str:
    """A task id is a UUID string; it names a directory, so check it."""
    try:
        canonical = str(uuid.UUID(task_id))
    except (TypeError, ValueError, AttributeError) as e:
        raise InvalidParameter(f"Invalid task id: {task_id!r}") from e
    if canonical != task_id.lower():
        raise InvalidParameter(f"Invalid task id: {task_id!r}")
    return task_id
