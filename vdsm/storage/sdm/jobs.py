"""Running SDM jobs: registered in the host jobs registry, run on workers.

A verb registers its job (the engine's ``job_id``; JobExists if taken)
and returns; a worker thread runs the work and ends the job done, or
failed with the error's wire code and message (an unexpected error is
logged with its traceback and reported as an internal error).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from vdsm.common.errors import VdsmError
from vdsm.host.jobs import Job, JobRegistry

log = logging.getLogger(__name__)

JOB_TYPE = "storage"


class SdmJobs:
    """Thread-safe (the registry and the executor are)."""

    def __init__(self, jobs: JobRegistry, error_code: Callable[[BaseException], int],
                 *, workers: int) -> None:
        self.jobs = jobs
        self.error_code = error_code
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers),
                                            thread_name_prefix="sdm")

    def start(self, job_id: str, description: str,
              work: Callable[[Job], None]) -> None:
        """Register the job and queue ``work(job)``; raises JobExists."""
        job = self.jobs.add(JOB_TYPE, description, job_id=job_id)
        self._executor.submit(self._run, job, work)

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        job.start()
        try:
            work(job)
        except VdsmError as e:
            log.info("job %s (%s) failed: %s", job.id, job.description, e)
            job.fail(self.error_code(e), str(e))
            return
        except Exception as e:
            log.exception("job %s (%s) failed unexpectedly", job.id, job.description)
            job.fail(self.error_code(e), f"internal error: {type(e).__name__}")
            return
        job.finish()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
