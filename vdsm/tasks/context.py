"""What a running job sees of its task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.tasks.errors import TaskAborted

if TYPE_CHECKING:
    from vdsm.tasks.task import Task


class TaskContext:
    """Handed to a job: poll for abort, register undo steps.

    A long job polls :attr:`aborting` (or calls :meth:`check_abort`) between
    steps and sleeps with :meth:`wait`, so that ``stop`` ends it promptly.
    Undo steps are registered as the job goes, each as soon as there is
    something to undo; they run in reverse order if the job fails or is
    stopped. Thread-safe.
    """

    def __init__(self, task: Task) -> None:
        self._task = task

    @property
    def task_id(self) -> str:
        return self._task.id

    @property
    def aborting(self) -> bool:
        """True once the task was asked to stop."""
        return self._task.abort_requested

    def check_abort(self) -> None:
        """Raise TaskAborted if the task was asked to stop."""
        if self.aborting:
            raise TaskAborted(f"Task {self.task_id} was stopped")

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; return True early if aborting."""
        return self._task.wait_abort(timeout)

    def set_progress(self, percent: float) -> None:
        """Show how far the job is (0-100) in the task's info."""
        self._task.set_progress(percent)

    def add_recovery(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Register the undo step ``name(**args)``; persisted before returning.

        Raises InvalidRecovery for an unregistered name or non-JSON
        arguments, TaskPersistError if a persistent task cannot record it
        (the step is still kept in memory and runs on rollback).
        """
        self._task.push_recovery(name, args)

    def clear_recoveries(self) -> None:
        """Drop every undo step, e.g. once the job reached a point of no return."""
        self._task.clear_recoveries()
