"""What makes an SDM job safe off the SPM: locks, leases and undo steps.

On this host the job holds its images' locks (the ones SPM tasks take);
across hosts it holds each changed volume's lease in the domain's
lockspace, which needs this host's id there: a second host (or process)
asking for the same lease fails with DomainAlreadyLocked, and a host
without a host id with AcquireHostIdFailure. Leases are released in
reverse order, whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.sdm.endpoints import VolumeRef
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.recovery import RecoveryRegistry, RecoveryStep

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked(resources: rm.ResourceManager, leases: LeaseManager, cache: DomainCache,
           *, exclusive: Sequence[VolumeRef],
           shared: Sequence[VolumeRef] = ()) -> Iterator[None]:
    """Image locks (``exclusive`` ones exclusive, ``shared`` ones shared)
    and the leases of the ``exclusive`` volumes, for the ``with`` block.
    Raises ResourceTimeout, DomainAlreadyLocked, AcquireHostIdFailure,
    VolumeDoesNotExist."""
    requests = [domain_lock(r.sd_uuid) for r in (*exclusive, *shared)]
    requests += [image_lock(r.sd_uuid, r.img_uuid) for r in exclusive]
    requests += [image_lock(r.sd_uuid, r.img_uuid, rm.SHARED) for r in shared]
    with resources.acquire(requests):
        held: list[tuple[str, str, str, int]] = []
        try:
            for ref in exclusive:
                path, offset = cache.produce(ref.sd_uuid).volume(
                    ref.img_uuid, ref.vol_uuid).lease
                leases.acquire(ref.sd_uuid, ref.vol_uuid, path, offset)
                held.append((ref.sd_uuid, ref.vol_uuid, path, offset))
            yield
        finally:
            for lease in reversed(held):
                try:
                    leases.release(*lease)
                except VdsmError as e:
                    log.error("cannot release lease %s:%s: %s", lease[0], lease[1], e)


class JobContext:
    """A TaskContext for work run as a host job: undo steps kept in memory
    and run (newest first) by :meth:`rollback` when the job fails."""

    def __init__(self, job_id: str, registry: RecoveryRegistry) -> None:
        self.task_id = job_id
        self._registry = registry
        self._steps: list[RecoveryStep] = []

    @property
    def aborting(self) -> bool:
        return False

    def check_abort(self) -> None:
        """Host jobs are not aborted here."""

    def add_recovery(self, name: str, args: dict[str, Any] | None = None) -> None:
        self._steps.append(self._registry.step(name, args))

    def clear_recoveries(self) -> None:
        self._steps.clear()

    def rollback(self) -> None:
        while self._steps:
            step = self._steps.pop()
            try:
                self._registry.run(step)
            except VdsmError as e:
                log.error("job %s: undo step %s failed: %s", self.task_id, step.name, e)
