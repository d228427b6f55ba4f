"""The host's storage service: one object the API handlers call.

It owns the connections, the domain cache and monitors, the connected
pool and its SPM, and the jobs; it knows nothing of envelopes or codes.
Verbs that change metadata go to the SPM (``Not SPM`` elsewhere) and run
as persisted pool tasks; reading verbs run on any host.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.common.events import NullPublisher, Publisher
from vdsm.host.jobs import JobRegistry
from vdsm.storage import chainsync, faults, sendtargets, shutdown
from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.block_growth import BlockGrowth
from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.coldmerge import ColdMerge
from vdsm.storage.connections.registry import ConnectionRegistry
from vdsm.storage.context import StorageContext
from vdsm.storage.copy_service import CopyService
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.monitor import DomainMonitor, DomainStatus
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.errors import (
    CannotConnectMultiplePools,
    IsSpm,
    SpmStatusError,
    StorageDomainIsMemberOfPool,
    StoragePoolUnknown,
)
from vdsm.storage.image_space import ImageSpace
from vdsm.storage.images import ImageOperations
from vdsm.storage.pool_ovf import PoolOvf
from vdsm.storage.pool_recovery import PoolRecovery
from vdsm.storage.repo_files import RepoFiles
from vdsm.storage.sdm.operations import SdmOperations
from vdsm.storage.sdm.service_deps import SdmDeps
from vdsm.storage.spm import master_migration
from vdsm.storage.spm import pool as pools
from vdsm.storage.spm.extension import Extensions
from vdsm.storage.spm.mailbox import Callback
from vdsm.storage.spm.pool_operations import PoolOperations
from vdsm.storage.spm.recovery import Recoveries
from vdsm.storage.spm.role import Spm
from vdsm.storage.transfer.image_transfer import ImageTransfers
from vdsm.storage.volumes import VolumeOperations, domain_lock, image_lock
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry
from vdsm.tasks.task import ErrorCode

log = logging.getLogger(__name__)


class StorageService:
    def __init__(self, ctx: StorageContext, *, workers: int,
                 error_code: ErrorCode, publisher: Publisher | None = None,
                 jobs: JobRegistry | None = None) -> None:
        """``publisher``: domain state and pool task events; ``jobs``: the
        host jobs registry (transfers and SDM jobs)."""
        self.ctx = ctx
        self.publisher = publisher if publisher is not None else NullPublisher()
        self.workers = workers
        self.error_code = error_code
        io_timeout = float(ctx.setting("process_pool_timeout"))
        self.cache = DomainCache(ctx, lookup_timeout=min(io_timeout, 10.0),
                                 block_domains=True)
        self.connections = ConnectionRegistry(ctx)
        self.cache.is_writer = self._is_spm
        self.domains = DomainService(ctx, self.cache)
        self.lvm = ctx.lvm
        self.blocks = BlockStorage(self.lvm,
                                   include_loop=bool(ctx.setting("list_loop_devices")))
        self.monitor = DomainMonitor(
            self.cache, ctx.leases,
            interval=float(ctx.setting("sd_health_check_delay")),
            io_timeout=io_timeout, publisher=self.publisher, error_code=error_code)
        self.resources = rm.ResourceManager(
            timeout=float(ctx.setting("resource_timeout")))
        self.registry = RecoveryRegistry()
        self.pauses = faults.PausePoints(ctx.setting("test_pause_file"))
        Recoveries(self.cache, self._guard).register(self.registry)
        master_migration.register(self.registry, self._migration)
        self.extensions = Extensions(ctx, self.cache)
        self.volume_ops = VolumeOperations(self.cache, self.resources, self._guard)
        self.image_ops = ImageOperations(self.cache, self.resources, self._guard)
        self.copies = CopyService(self.cache, self.resources, self._guard,
                                  self.spm_task, self._spm,
                                  ctx.setting("copy_bandwidth_mib"))
        self.cold_merge = ColdMerge(self.cache, self.resources, self._guard)
        self.chains = chainsync.VolumeChains(self.cache, self.resources,
                                             self.prepare_image)
        # OVF store, ISO file stats, image domains, sparsify
        self.ovf = PoolOvf(self.resources, pool=self._pool, spm=self._spm)
        self.files = RepoFiles(self.cache, self.resources, pool=self._pool)
        self.space = ImageSpace(self.cache, self.resources, self._guard, trim=(
            (lambda path: ctx.supervdsm.call("trim_image", path=path))
            if ctx.setting("sparsify_host_trim") else None))
        self.jobs = jobs if jobs is not None else JobRegistry()
        self.transfers = ImageTransfers(self.cache, self.resources, self._guard,
                                        self.jobs, error_code)
        self.sdm = SdmOperations(SdmDeps(self.cache, self.resources, ctx.leases,
                                         float(ctx.setting("copy_bandwidth_mib"))),
                                 self.jobs, error_code, workers=workers,
                                 statuses=self.monitor.status)
        self._lock = threading.Lock()
        self.pool: pools.StoragePool | None = None
        self.spm: Spm | None = None
        self.block_growth = BlockGrowth(self)  # extendStorageDomain, resizePV
        self.recovery = PoolRecovery(self)  # reconstruct, upgrade, fence, forced detach

    # --- pool and SPM plumbing ---------------------------------------------
    def _is_spm(self) -> bool:
        """This host changes the pool's storage (the domain cache trusts
        what it cached only then)."""
        spm = self.spm
        return spm is not None and spm.role == "SPM"

    def _guard(self) -> None:
        spm = self.spm
        if spm is None:
            raise SpmStatusError("Not SPM: not connected to a pool")
        self.pauses.reach("write")
        spm.guard()

    def fence_spm(self, reason: str) -> None:
        """Stop being SPM now, without writing to storage (no-op if not)."""
        spm = self.spm
        if spm is not None:
            spm.fence(reason)

    def current_tasks(self) -> TaskManager | None:
        spm = self.spm
        return spm.tasks if spm is not None else None

    def _pool(self, sp_uuid: str | None) -> pools.StoragePool:
        pool = self.pool
        if pool is None or sp_uuid != pool.sp_uuid:
            raise StoragePoolUnknown(f"Unknown pool id, pool not connected: {sp_uuid}")
        return pool

    def _spm(self, sp_uuid: str) -> Spm:
        self._pool(sp_uuid)
        assert self.spm is not None
        self.spm.require()
        return self.spm

    def _pool_ops(self, sp_uuid: str) -> PoolOperations:
        spm = self._spm(sp_uuid)
        return PoolOperations(spm.pool, self.resources, spm.guard)

    # --- connections ----------------------------------------------------------
    def connect_storage_server(self, dom_type: int,
                               con_list: list[dict[str, Any]]) -> list[Any]:
        return self.connections.connect(dom_type, con_list)

    def disconnect_storage_server(self, dom_type: int,
                                  con_list: list[dict[str, Any]]) -> list[Any]:
        return self.connections.disconnect(dom_type, con_list)

    def validate_storage_server_connection(self, dom_type: int,
                                           con_list: list[dict[str, Any]]) -> list[Any]:
        return self.connections.validate(dom_type, con_list)

    def discover_send_targets(self, con: dict[str, Any]) -> dict[str, list[str]]:
        return sendtargets.discover(self.ctx.supervdsm, con,
                                    method=self.ctx.setting("iscsi_discovery"))

    # --- pools ------------------------------------------------------------------
    def create_storage_pool(self, *, sp_uuid: str, name: str, master_uuid: str,
                            master_version: int, lease_params: dict[str, Any]) -> None:
        pools.create(self.cache, sp_uuid=sp_uuid, name=name, master_uuid=master_uuid,
                     master_version=master_version, lease_params=lease_params,
                     pauses=self.pauses)

    def connect_storage_pool(self, *, sp_uuid: str, host_id: int, master_uuid: str,
                             master_version: int) -> None:
        with self._lock:
            if self.pool is not None:
                if self.pool.sp_uuid == sp_uuid:
                    self.pool.connect(master_version)
                    return
                raise CannotConnectMultiplePools(
                    f"Already connected to pool {self.pool.sp_uuid}")
            pool = pools.StoragePool(sp_uuid, host_id=host_id, master_uuid=master_uuid,
                                     cache=self.cache, monitor=self.monitor,
                                     repository=self.ctx.repository,
                                     mailbox=self.extensions.host_mailbox)
            pool.connect(master_version)
            self.pool = pool
            self.spm = Spm(pool, self.ctx.leases, registry=self.registry,
                           workers=self.workers, error_code=self.error_code,
                           publisher=self.publisher, pauses=self.pauses,
                           host_id_timeout=float(self.ctx.setting("host_id_timeout")),
                           fence_interval=float(self.ctx.setting("spm_check_interval")),
                           mailbox=self.extensions.spm_mailbox)

    def disconnect_storage_pool(self, sp_uuid: str) -> None:
        with self._lock:
            pool = self._pool(sp_uuid)
            if self.spm is not None and self.spm.role == "SPM":
                raise IsSpm("Operation not allowed while SPM is active")
            pool.disconnect()
            self.pool = self.spm = None

    def destroy_storage_pool(self, sp_uuid: str) -> None:
        ops = self._pool_ops(sp_uuid)
        self.spm_sync(sp_uuid, "destroyStoragePool", lambda ctx: ops.destroy())
        self._spm(sp_uuid).stop()
        self.disconnect_storage_pool(sp_uuid)

    def refresh_storage_pool(self, sp_uuid: str, master_uuid: str,
                             master_version: int) -> None:
        pool = self._pool(sp_uuid)
        md = pool.check_master(master_uuid, master_version)
        pool.refresh_links(md)
        for sd_uuid, status in pool.domains(md).items():
            if status == sc.DOM_ACTIVE:
                self.monitor.start_monitoring(sd_uuid, pool.host_id, pool=True)

    def storage_pool_info(self, sp_uuid: str) -> dict[str, Any]:
        pool = self._pool(sp_uuid)
        assert self.spm is not None
        st = self.spm.status()
        return pool.info(st["spmId"], st["spmLver"])

    def request_volume_extension(self, sd_uuid: str, sp_uuid: str, img_uuid: str,
                                 vol_uuid: str, size: int, callback: Callback) -> None:
        """Thin provisioning: ask the SPM (through the pool mailbox) to grow a
        volume's LV to ``size`` bytes; ``callback`` runs once this host sees it."""
        self.extensions.request(self._pool(sp_uuid), sd_uuid, img_uuid, vol_uuid,
                                size, callback)

    def connected_pools(self) -> list[str]:
        return [self.pool.sp_uuid] if self.pool is not None else []

    @property
    def _sync_timeout(self) -> float:
        return float(self.ctx.setting("resource_timeout")) + 60

    def pool_verb(self, sp_uuid: str, verb: str, action: str, *args: Any) -> None:
        """attach/detach/activate/deactivate/set_description, as a pool task."""
        ops = self._pool_ops(sp_uuid)
        self.spm_sync(sp_uuid, verb, lambda ctx: getattr(ops, action)(*args))

    def _migration(self) -> master_migration.MasterMigration:
        spm = self.spm
        if spm is None:
            raise SpmStatusError("Not SPM: not connected to a pool")
        return master_migration.MasterMigration(
            spm.pool, self.ctx.leases, guard=spm.guard,
            host_id_timeout=float(self.ctx.setting("host_id_timeout")))

    def deactivate_domain(self, sp_uuid: str, sd_uuid: str, msd_uuid: str | None,
                          master_version: int | None) -> None:
        """deactivateStorageDomain; on the master, ``msd_uuid`` takes over."""
        pool = self._pool(sp_uuid)
        no_new_master = msd_uuid in (None, "", sc.BLANK_UUID, sd_uuid)
        if sd_uuid != pool.master_uuid or no_new_master:
            self.pool_verb(sp_uuid, "deactivateStorageDomain", "deactivate", sd_uuid)
            return
        spm = self._spm(sp_uuid)
        spm.check_idle()
        ops, migration = self._pool_ops(sp_uuid), self._migration()
        old_master_dir = pool.master.master_dir
        lver = self.spm_sync(
            sp_uuid, "deactivateStorageDomain", lambda ctx: ops.migrate_master(
                ctx, migration, sd_uuid, msd_uuid, int(master_version or 0)))
        spm.master_moved(old_master_dir, lver)
        try:  # its tasks moved: a block master's file system is unmounted
            self.cache.produce(sd_uuid).release_master_dir()
        except (VdsmError, OSError) as e:
            log.error("cannot release the old master file system of %s: %s",
                      sd_uuid, e)

    def refresh_volume(self, sd_uuid: str, img_uuid: str, vol_uuid: str) -> None:
        """refreshVolume (any host): see the size the SPM gave a volume's LV
        (the domain's refresh_volume: growth.refresh_volume on a block
        domain, nothing for a file volume, as classic)."""
        dom = self.cache.produce(sd_uuid)
        dom.volume(img_uuid, vol_uuid)    # VolumeDoesNotExist, as classic
        dom.refresh_volume(img_uuid, vol_uuid)

    # --- SPM ----------------------------------------------------------------------
    def spm_start(self, sp_uuid: str, host_tasks: TaskManager) -> str:
        self._pool(sp_uuid)
        assert self.spm is not None
        self.spm.check_leases()
        return host_tasks.schedule(self.spm.start_job, verb="spmStart")

    def spm_stop(self, sp_uuid: str) -> None:
        self._pool(sp_uuid)
        assert self.spm is not None
        self.spm.stop()

    def spm_status(self, sp_uuid: str) -> dict[str, Any]:
        self._pool(sp_uuid)
        assert self.spm is not None
        return self.spm.status()

    def spm_task(self, sp_uuid: str, verb: str, job: Any) -> str:
        """Run ``job(ctx)`` as a persisted pool task; return its id."""
        return self._spm(sp_uuid).schedule(job, verb=verb)

    def spm_sync(self, sp_uuid: str, verb: str, job: Any) -> Any:
        """Run ``job(ctx)`` as a persisted pool task and wait for it."""
        return self._spm(sp_uuid).run_sync(job, verb=verb, timeout=self._sync_timeout)

    def transfer_image(self, op: str, sp_uuid: str, sd_uuid: str, img_uuid: str,
                       vol_uuid: str | None, method_args: dict[str, Any]) -> str:
        """uploadImage/downloadImage (``op`` "upload"/"download"): an SPM task."""
        job = self.transfers.task(op, sd_uuid, img_uuid, vol_uuid, method_args)
        return self.spm_task(sp_uuid, f"{op}Image", job)

    # --- reading volumes and images -------------------------------------------
    def volume_info(self, sd_uuid: str, sp_uuid: str, img_uuid: str,
                    vol_uuid: str) -> dict[str, Any]:
        dom = self.cache.current(sd_uuid)
        vol = dom.volume(img_uuid, vol_uuid)
        mds = image.volumes_metadata(dom, img_uuid)
        pool = sp_uuid if sp_uuid != sc.BLANK_UUID else ""
        return vol.info(children=image.children(mds, vol_uuid), pool=pool)

    def volume_size(self, sd_uuid: str, img_uuid: str, vol_uuid: str) -> dict[str, str]:
        sizes = self.cache.current(sd_uuid).volume(img_uuid, vol_uuid).size()
        return {k: str(v) for k, v in sizes.items()}

    def volume_path(self, sd_uuid: str, img_uuid: str, vol_uuid: str) -> str:
        return self.cache.current(sd_uuid).volume(img_uuid, vol_uuid).path

    def prepare_image(self, sd_uuid: str, sp_uuid: str, img_uuid: str,
                      vol_uuid: str | None, *, allow_illegal: bool = False
                      ) -> dict[str, Any]:
        """prepareImage (any host); also how VM drives given as
        {domainID, poolID, imageID, volumeID} become paths."""
        run_path = None
        if sp_uuid not in (None, "", sc.BLANK_UUID):
            run_path = self._pool(sp_uuid).run_path(sd_uuid, img_uuid)
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid, rm.SHARED)]):
            dom = self.cache.current(sd_uuid)
            prepared, mds = image.prepare(dom, img_uuid, vol_uuid, run_path=run_path,
                                          allow_illegal=allow_illegal)
            chainsync.repair_sizes(dom, img_uuid, mds)
            return prepared

    def teardown_image(self, sd_uuid: str, sp_uuid: str, img_uuid: str,
                       vol_uuid: str | None) -> None:
        dom = self.cache.current(sd_uuid)
        vols = image.chain(dom, img_uuid, vol_uuid)
        dom.volume(img_uuid, vols[-1]).teardown()   # the whole chain

    # --- monitoring --------------------------------------------------------------
    def repo_statuses(self, domains: list[str] | None = None
                      ) -> dict[str, DomainStatus]:
        statuses = self.monitor.status()
        if domains:
            statuses = {u: s for u, s in statuses.items() if u in domains}
        return statuses

    def start_monitoring_domain(self, sd_uuid: str, host_id: int) -> None:
        self.cache.produce(sd_uuid)
        self.monitor.start_monitoring(sd_uuid, host_id or None)

    def stop_monitoring_domain(self, sd_uuid: str) -> None:
        if sd_uuid in self.monitor.pool_domains:
            raise StorageDomainIsMemberOfPool(
                f"Storage domain {sd_uuid} is monitored as a member of the pool")
        self.monitor.stop_monitoring([sd_uuid])

    # --- life cycle -----------------------------------------------------------------
    def prepare_for_shutdown(self) -> dict[str, Any]:
        """Give back every lease (prepareForShutdown; vdsm.storage.shutdown)."""
        with self._lock:
            return shutdown.prepare(self)

    def shutdown(self) -> None:
        if self.spm is not None:
            self.spm.shutdown()
        self.monitor.shutdown()
        self.sdm.shutdown()
        if self.ctx.io is not None:
            self.ctx.io.close_all()
