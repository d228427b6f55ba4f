"""Task namespace verbs: thin handlers over the task manager."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vdsm.agent import Agent


class TaskVerbs:
    def __init__(self, agent: Agent) -> None:
        self._tasks = agent.tasks

    def get_status(self, task_id: str) -> dict[str, Any]:
        return self._tasks.get_status(task_id)

    def get_info(self, task_id: str) -> dict[str, Any]:
        return self._tasks.get_info(task_id)

    def stop(self, task_id: str) -> None:
        self._tasks.stop(task_id)

    def clear(self, task_id: str) -> None:
        self._tasks.clear(task_id)

    def revert(self, task_id: str) -> None:
        self._tasks.revert(task_id)
