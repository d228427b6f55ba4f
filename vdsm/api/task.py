"""Task namespace verbs: thin handlers over the task managers.

The host has its own manager; a connected storage pool adds one whose
tasks persist on the master domain. A task id is looked up in each.
"""

from __future__ import annotations

from typing import Any

from vdsm.api.services import TaskManagers, TaskReader
from vdsm.tasks.errors import UnknownTask


class TaskVerbs:
    def __init__(self, managers: TaskManagers) -> None:
        self._managers = managers

    def _owner(self, task_id: str) -> TaskReader:
        managers = self._managers
        for manager in managers[:-1]:
            try:
                manager.get_status(task_id)
            except UnknownTask:
                continue
            return manager
        return managers[-1]  # raises UnknownTask itself if not there either

    def get_status(self, task_id: str) -> dict[str, Any]:
        return self._owner(task_id).get_status(task_id)

    def get_info(self, task_id: str) -> dict[str, Any]:
        return self._owner(task_id).get_info(task_id)

    def stop(self, task_id: str) -> None:
        self._owner(task_id).stop(task_id)

    def clear(self, task_id: str) -> None:
        self._owner(task_id).clear(task_id)

    def revert(self, task_id: str) -> None:
        self._owner(task_id).revert(task_id)
