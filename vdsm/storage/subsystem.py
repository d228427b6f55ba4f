"""The storage subsystem: plugs the image repository into the agent.

Registered in the agent as ``vdsm.storage.subsystem:StorageSubsystem``.
It builds the storage service from the agent's configuration, supervdsm
client, error_code and notifier; the agent serves that service as the
StoragePool/StorageDomain/Image/Volume namespaces and storage Host verbs
(:mod:`vdsm.api.wiring`), hands the drive resolver to virt and feeds
domain health into getVdsStats. It lets the Task verbs see the SPM's tasks.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.storage.context import StorageContext
from vdsm.storage.domains import monitor
from vdsm.storage.errors import VolumeExtendingError
from vdsm.storage.host_leases import HostLeases
from vdsm.storage.image_space import GuestTrim
from vdsm.storage.io.out_of_process import IOProcessPool
from vdsm.storage.leases import manager as leases
from vdsm.storage.service import StorageService
from vdsm.storage.spm.mailbox import ExtendResult
from vdsm.storage.spm.tasks import PoolTasks

if TYPE_CHECKING:
    from vdsm.agent import Agent

log = logging.getLogger(__name__)


class StorageSubsystem:
    name = "storage"

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        config = agent.config
        manager_name = config.get("irs", "lease_manager")
        extra: dict[str, Any] = {}
        if manager_name == "sanlock" and agent.revoke_signal is not None:
            extra["revoke_signal"] = agent.revoke_signal
        lease_manager = leases.create(manager_name,
                                      io_timeout=config.get("sanlock", "io_timeout"),
                                      run_dir=config.get("sanlock", "run_dir"),
                                      **extra)
        ctx = StorageContext(
            config=config, supervdsm=agent.supervdsm,
            io=IOProcessPool(timeout=config.get("irs", "process_pool_timeout")),
            leases=lease_manager)
        self._error_code = agent.error_code
        self.service = StorageService(ctx, workers=config.get("vars", "task_workers"),
                                      error_code=agent.error_code,
                                      publisher=agent.notifier, jobs=agent.jobs)
        agent.add_task_manager(PoolTasks(self.service.current_tasks))  # type: ignore

    def start(self) -> None:
        """Make the repository and mount root the agent's own."""
        ctx = self.service.ctx
        owner = ctx.owner
        if owner is None:
            os.makedirs(ctx.mount_root, exist_ok=True)
            return
        try:
            for path in (ctx.repository, ctx.mount_root):
                self.agent.supervdsm.call("mkdir_owned", path=path, user=owner)
        except VdsmError as e:
            log.error("cannot prepare the storage repository %s: %s",
                      ctx.repository, e)

    def stop(self) -> None:
        self.service.shutdown()

    def leases_revoked(self) -> None:
        """The lease manager wants our leases back (the lockspace is being
        lost): stop being SPM at once."""
        self.service.fence_spm("the lease manager revoked our leases "
                               "(storage of the master domain lost)")

    def prepare_drive(self, drive: dict[str, Any]) -> dict[str, Any]:
        """Resolve a VM drive given as {domainID, poolID, imageID, volumeID}:
        prepareImage's answer (``path`` of the leaf, ``imgVolumesInfo``,
        ``chain``). Raises the storage errors of prepareImage."""
        return self.service.prepare_image(
            drive["domainID"], drive.get("poolID", ""), drive["imageID"],
            drive.get("volumeID"))

    def teardown_drive(self, drive: dict[str, Any]) -> None:
        self.service.teardown_image(drive["domainID"], drive.get("poolID", ""),
                                    drive["imageID"], drive.get("volumeID"))

    @property
    def drive_resolver(self) -> _DriveResolver:
        """What the virt subsystem uses for drives given as volume ids."""
        return _DriveResolver(self)

    @property
    def volume_chains(self) -> _VolumeChains:
        """What the virt subsystem uses to sync metadata after a live merge."""
        return _VolumeChains(self)

    def set_guest_trim(self, guests: GuestTrim) -> None:
        """sparsifyImage of a volume a VM here runs on trims that guest
        through ``guests`` (virt's) instead of rewriting the image."""
        self.service.space.guests = guests

    @property
    def volume_extender(self) -> _VolumeExtender:
        """What the virt subsystem uses to grow thin block volumes."""
        return _VolumeExtender(self)

    @property
    def host_leases(self) -> HostLeases:
        """Other hosts' lease status (the fencing policy asks it)."""
        return HostLeases(self.service.ctx.leases)

    def domain_stats(self) -> dict[str, Any]:
        """Per-domain health for getVdsStats (``storageDomains``)."""
        return monitor.repo_stats(self.service.monitor.status(), self._error_code)


class _DriveResolver:
    """prepare(drive) -> path / teardown(drive), as vdsm.virt.drives wants."""

    def __init__(self, storage: StorageSubsystem) -> None:
        self._storage = storage

    def prepare(self, drive: dict[str, Any]) -> str:
        return self._storage.prepare_drive(drive)["path"]

    def teardown(self, drive: dict[str, Any]) -> None:
        self._storage.teardown_drive(drive)


class _VolumeChains:
    """sync(drive, chain) and set_size(drive, size), as
    vdsm.virt.livemerge.ChainSync wants."""

    def __init__(self, storage: StorageSubsystem) -> None:
        self._storage = storage

    def sync(self, drive: dict[str, Any], chain: list[str]) -> list[str]:
        return self._storage.service.chains.sync(
            drive["domainID"], drive["imageID"], chain)

    def set_size(self, drive: dict[str, Any], size: int) -> None:
        self._storage.service.chains.set_size(
            drive["domainID"], drive["imageID"], drive["volumeID"], size)


class _VolumeExtender:
    """extend(request, callback), as vdsm.virt.thinprov.Extender wants: the
    storage service's request_volume_extension (mailbox to the SPM, the LV
    refreshed here), its ExtendResult turned into ``callback(None)`` or
    ``callback(VolumeExtendingError)``. Raises what the service raises
    for a request it refuses at once (no connected pool)."""

    def __init__(self, storage: StorageSubsystem) -> None:
        self._storage = storage

    def extend(self, request: Any, callback: Callable[[BaseException | None], None]
               ) -> None:
        def done(result: ExtendResult) -> None:
            if result.ok:
                callback(None)
            else:
                callback(VolumeExtendingError(
                    f"Error extending volume {result.vol_uuid} to "
                    f"{result.requested} bytes: {result.error}"))
        self._storage.service.request_volume_extension(
            request.sd_uuid, request.sp_uuid, request.img_uuid,
            request.vol_uuid, request.size, done)
