"""The SDM verbs as the storage service offers them.

Each method checks its arguments at once (InvalidParameterException,
JobExists answer the call itself), registers the host job under the
engine's ``job_id`` and returns; the work runs on an SDM worker.
"""

from __future__ import annotations

from typing import Any, Callable

from vdsm.host.jobs import JobRegistry
from vdsm.storage.domains.monitor import DomainStatus
from vdsm.storage.errors import AcquireHostIdFailure
from vdsm.storage.sdm import amend_volume, copy_data, create_volume, update_volume
from vdsm.storage.sdm.endpoints import copy_endpoint, volume_ref
from vdsm.storage.sdm.guarded import JobContext
from vdsm.storage.sdm.jobs import SdmJobs
from vdsm.storage.sdm.service_deps import SdmDeps
from vdsm.storage.spm.recovery import Recoveries
from vdsm.storage.volumes import VolumeOperations
from vdsm.tasks.recovery import RecoveryRegistry


class SdmOperations:
    def __init__(self, deps: SdmDeps, jobs: JobRegistry,
                 error_code: Callable[[BaseException], int], *, workers: int,
                 statuses: Callable[[], dict[str, DomainStatus]]) -> None:
        """``statuses``: the domain monitors' view (whose host id is held)."""
        self.deps = deps
        self.runner = SdmJobs(jobs, error_code, workers=workers)
        self._statuses = statuses
        self._registry = RecoveryRegistry()
        Recoveries(deps.cache, self._no_guard).register(self._registry)

    @staticmethod
    def _no_guard() -> None:
        """Off the SPM nothing is fenced: the volume lease and the host id
        are the guard."""

    def check_host_id(self, sd_uuid: str) -> None:
        """AcquireHostIdFailure unless this host holds its id in the domain's
        lockspace (what any SDM job needs)."""
        status = self._statuses().get(sd_uuid)
        if status is None or not status.acquired:
            raise AcquireHostIdFailure(
                f"Cannot acquire host id: this host holds no host id on {sd_uuid}")

    def create_volume(self, job_id: str, vol_info: Any) -> None:
        args = create_volume.parse(vol_info)
        ops = VolumeOperations(self.deps.cache, self.deps.resources, self._no_guard)
        ctx = JobContext(job_id, self._registry)
        self.runner.start(job_id, f"create volume {args['vol_uuid']}",
                          lambda job: create_volume.run(ops, ctx, args,
                                                        self.check_host_id))

    def copy_data(self, job_id: str, source: Any, destination: Any) -> None:
        src, dst = copy_endpoint(source), copy_endpoint(destination)
        self.runner.start(job_id, f"copy data {src.vol_uuid} to {dst.vol_uuid}",
                          lambda job: copy_data.run(self.deps, src, dst,
                                                    progress=job.progress_to))

    def amend_volume(self, job_id: str, vol_info: Any, qcow2_attr: Any) -> None:
        ref, compat = volume_ref(vol_info), amend_volume.parse(qcow2_attr)
        self.runner.start(job_id, f"amend volume {ref.vol_uuid} compat {compat}",
                          lambda job: amend_volume.run(self.deps, ref, compat))

    def update_volume(self, job_id: str, vol_info: Any, vol_attr: Any) -> None:
        ref, attrs = volume_ref(vol_info), update_volume.parse(vol_attr)
        self.runner.start(job_id, f"update volume {ref.vol_uuid}",
                          lambda job: update_volume.run(self.deps, ref, attrs))

    def shutdown(self) -> None:
        self.runner.shutdown()
