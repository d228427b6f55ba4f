"""What the API handlers need of the services, as small typed interfaces.

Handlers are built from these (by :mod:`vdsm.api.wiring`), never from the
agent, so each handler names exactly what it calls. The subsystems'
services satisfy them structurally; nothing here imports a subsystem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Protocol

# exception -> wire code; the API's table, handed to services that report
# codes inside their payloads (task statuses, repoStats)
ErrorCode = Callable[[BaseException], int]


class HostInfo(Protocol):
    """The host's own facts (vdsm.host.service.HostService)."""

    def capabilities(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def hardware_info(self) -> dict[str, Any]: ...


class HostJobs(Protocol):
    """The host jobs registry as getJobs reads it (vdsm.host.jobs)."""

    def info(self, *, job_type: str | None = None,
             job_ids: list[str] | None = None) -> dict[str, Any]: ...


class TaskReader(Protocol):
    """One task manager as the Task and Host verbs use it (the host's
    TaskManager, or the storage pool's PoolTasks facade)."""

    def get_status(self, task_id: str) -> dict[str, Any]: ...

    def get_info(self, task_id: str) -> dict[str, Any]: ...

    def stop(self, task_id: str) -> None: ...

    def clear(self, task_id: str) -> None: ...

    def revert(self, task_id: str) -> None: ...

    def get_all_statuses(self) -> dict[str, Any]: ...

    def get_all_info(self) -> dict[str, Any]: ...

    def get_all_tasks(self) -> dict[str, Any]: ...


# Every task manager of the host, the host's own first; a live sequence
# (the storage subsystem adds the pool's at start-up).
TaskManagers = Sequence[TaskReader]


class TaskScheduler(Protocol):
    """Where host-wide jobs (spmStart) run: the host's TaskManager."""

    def schedule(self, job: Any, *, task_id: str | None = None,
                 persist: bool = False, verb: str | None = None,
                 tags: Any = ()) -> str: ...


class NetworkApi(Protocol):
    """The network subsystem's service as the network verbs use it."""

    @property
    def running(self) -> Any: ...

    def setup(self, networks: dict[str, Any], bondings: dict[str, Any],
              options: dict[str, Any]) -> None: ...

    def set_safe(self) -> None: ...
