"""The host jobs registry: long operations the engine follows by id.

A live merge, a live snapshot and a live storage migration (job type
``virt``, as the classic agent's VM jobs) register a :class:`Job` here, and
so do image transfers and SDM jobs (type ``storage``, vdsm/storage/sdm);
``Host.getJobs`` answers from it. A job is the small record the engine
polls (id, type, status, progress, error), not the work itself: the
owner moves it with :meth:`Job.start`, :meth:`Job.progress_to`,
:meth:`Job.finish`, :meth:`Job.fail`. Finished jobs are kept for
``keep_seconds`` (so the engine sees the end) and then dropped.

Thread-safe: one lock guards the registry and every job's fields.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from vdsm.common.errors import VdsmError

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED, ABORTED = (
    "pending", "running", "done", "failed", "aborted")
FINISHED = (DONE, FAILED, ABORTED)
KEEP_SECONDS = 600.0


class JobExists(VdsmError):
    name = "JobExists"
    default_message = "Job id already exists"


class NoSuchJob(VdsmError):
    name = "NoSuchJob"
    default_message = "Job Id does not exists"


class Job:
    """One job's record; changed only by its owner, read by getJobs."""

    def __init__(self, job_id: str, job_type: str, description: str,
                 lock: threading.Lock) -> None:
        self.id = job_id
        self.type = job_type
        self.description = description
        self.status = PENDING
        self.progress: int | None = None
        self.error: dict[str, Any] | None = None
        self.ended_at: float | None = None   # monotonic, when finished
        self._lock = lock

    def start(self) -> None:
        self._move(RUNNING)

    def progress_to(self, percent: float) -> None:
        with self._lock:
            self.progress = max(0, min(100, int(percent)))

    def finish(self) -> None:
        with self._lock:
            self.progress = 100
        self._move(DONE)

    def fail(self, code: int, message: str) -> None:
        with self._lock:
            self.error = {"code": code, "message": message}
        self._move(FAILED)

    def abort(self) -> None:
        self._move(ABORTED)

    @property
    def finished(self) -> bool:
        with self._lock:
            return self.status in FINISHED

    def _move(self, status: str) -> None:
        with self._lock:
            if self.status in FINISHED:
                return          # the end is final
            self.status = status
            if status in FINISHED:
                self.ended_at = time.monotonic()
        log.info("job %s (%s): %s", self.id, self.type, status)

    def info(self) -> dict[str, Any]:
        """The classic HostJobInfo record."""
        with self._lock:
            record: dict[str, Any] = {
                "id": self.id, "job_type": self.type, "status": self.status,
                "description": self.description}
            if self.progress is not None:
                record["progress"] = self.progress
            if self.error is not None:
                record["error"] = dict(self.error)
            return record


class JobRegistry:
    def __init__(self, *, keep_seconds: float = KEEP_SECONDS) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self.keep_seconds = keep_seconds

    def add(self, job_type: str, description: str, *,
            job_id: str | None = None) -> Job:
        """A new pending job (``job_id``: the engine's, else a new UUID);
        JobExists when that id is registered and not yet dropped."""
        job_id = job_id or str(uuid.uuid4())
        with self._lock:
            self._drop_old_locked()
            if job_id in self._jobs:
                raise JobExists(f"Job id already exists: {job_id}")
            job = Job(job_id, job_type, description, self._lock)
            self._jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise NoSuchJob(f"Job Id does not exists: {job_id}") from None

    def find(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def info(self, *, job_type: str | None = None,
             job_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """HostJobInfoMap: the jobs of ``job_type`` and ``job_ids`` (both
        optional filters), by id."""
        with self._lock:
            self._drop_old_locked()
            jobs = list(self._jobs.values())
        wanted = set(job_ids) if job_ids else None
        return {job.id: job.info() for job in jobs
                if (job_type is None or job.type == job_type)
                and (wanted is None or job.id in wanted)}

    def _drop_old_locked(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if job.ended_at is not None and now - job.ended_at > self.keep_seconds:
                del self._jobs[job_id]
