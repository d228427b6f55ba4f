"""Host namespace verbs: thin handlers over the host services."""

from __future__ import annotations

import logging
from typing import Any

from vdsm.api.services import HostInfo, HostJobs, TaskManagers
from vdsm.common.errors import InvalidParameter

log = logging.getLogger(__name__)

_LEVELS = {"10": "DEBUG", "20": "INFO", "30": "WARNING", "40": "ERROR",
           "50": "CRITICAL"}


class HostVerbs:
    def __init__(self, host: HostInfo, tasks: TaskManagers,
                 jobs: HostJobs | None = None) -> None:
        self._host = host
        self._tasks = tasks
        self._jobs = jobs

    def ping(self) -> None:
        return None

    def ping2(self) -> None:
        return None

    def get_capabilities(self) -> dict[str, Any]:
        return self._host.capabilities()

    def get_stats(self) -> dict[str, Any]:
        return self._host.stats()

    def get_hardware_info(self) -> dict[str, Any]:
        return self._host.hardware_info()

    def set_log_level(self, level: str, name: str = "") -> None:
        """Set the level of the root logger or of one of the agent's own
        (``vdsm`` or ``vdsm.*``, already existing): any other name is
        refused before a logger is made for it, as loggers are never freed."""
        level = _LEVELS.get(level, level).upper()
        if name and not _own_logger(name):
            raise InvalidParameter(
                f"Invalid parameter: {name[:100]!r} is not one of the agent's "
                f"loggers (vdsm or vdsm.*)")
        log.info("setting log level of %s to %s", name or "root", level)
        logging.getLogger(name or None).setLevel(level)

    def get_jobs(self, job_type: str | None = None,
                 job_ids: list[str] | None = None) -> dict[str, Any]:
        if self._jobs is None:
            return {}
        return self._jobs.info(job_type=job_type, job_ids=job_ids)

    # Tasks: the host-wide views.
    def get_all_tasks_statuses(self) -> dict[str, Any]:
        return _merged(m.get_all_statuses() for m in self._tasks)

    def get_all_tasks_info(self) -> dict[str, Any]:
        return _merged(m.get_all_info() for m in self._tasks)

    def get_all_tasks(self, options: Any = None) -> dict[str, Any]:
        return _merged(m.get_all_tasks() for m in self._tasks)


def _own_logger(name: str) -> bool:
    if name != "vdsm" and not name.startswith("vdsm."):
        return False
    return name in logging.root.manager.loggerDict


def _merged(parts: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for part in parts:
        result.update(part)
    return result
