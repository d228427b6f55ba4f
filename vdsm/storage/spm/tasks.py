"""The pool's tasks as the Task verbs see them.

The SPM's task manager comes and goes with the SPM role; the agent's Task
verbs are given this stable facade once (``agent.add_task_manager``), and
it answers from whatever manager the current SPM has.
"""

from __future__ import annotations

from typing import Any, Callable

from vdsm.tasks.errors import UnknownTask
from vdsm.tasks.manager import TaskManager


class PoolTasks:
    def __init__(self, current: Callable[[], TaskManager | None]) -> None:
        self._current = current

    def _manager(self, task_id: str) -> TaskManager:
        manager = self._current()
        if manager is None:
            raise UnknownTask(f"Task id unknown: {task_id}", taskID=task_id)
        return manager

    def get_status(self, task_id: str) -> dict[str, Any]:
        return self._manager(task_id).get_status(task_id)

    def get_info(self, task_id: str) -> dict[str, Any]:
        return self._manager(task_id).get_info(task_id)

    def stop(self, task_id: str) -> None:
        self._manager(task_id).stop(task_id)

    def clear(self, task_id: str) -> None:
        self._manager(task_id).clear(task_id)

    def revert(self, task_id: str) -> None:
        self._manager(task_id).revert(task_id)

    def wait(self, task_id: str, timeout: float) -> bool:
        return self._manager(task_id).wait(task_id, timeout)

    def get_all_statuses(self, tag: str | None = None) -> dict[str, Any]:
        manager = self._current()
        return manager.get_all_statuses(tag) if manager is not None else {}

    def get_all_info(self, tag: str | None = None) -> dict[str, Any]:
        manager = self._current()
        return manager.get_all_info(tag) if manager is not None else {}

    def get_all_tasks(self) -> dict[str, Any]:
        manager = self._current()
        return manager.get_all_tasks() if manager is not None else {}
