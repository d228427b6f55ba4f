"""The SPM's self-fencing, on local files with an in-memory lease manager.

(The real sanlock path of the SPM role is in scenario_test, two_hosts_test
and crash_recovery_test; here the lease manager is a test aid, so that
"storage lost" can be switched on.)
"""

from __future__ import annotations

import os
import threading

import pytest

from tests.eventrec import Recorder
from tests.storage.helpers import need_sanlock, new_uuid, wait_for
from vdsm.api.dispatcher import error_code
from vdsm.storage import constants as sc
from vdsm.storage.connections import mounts
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.monitor import DomainMonitor
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.errors import DomainAlreadyLocked, SpmStatusError
from vdsm.storage.leases import manager as leases
from vdsm.storage.leases.manager import LeaseOwner, LeaseStatus
from vdsm.storage.spm import pool as pools
from vdsm.storage.spm import recovery
from vdsm.storage.spm.recovery import Recoveries
from vdsm.storage.spm.role import Spm
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry

pytestmark = need_sanlock  # domain creation formats leases with sanlock


class MemoryLeases(leases.LeaseManager):
    """Host ids and one resource owner per lease, in memory."""

    def __init__(self) -> None:
        self.host_ids: dict[str, int] = {}
        self.storage_ok = True
        self.owners: dict[tuple[str, str], int] = {}
        self.versions: dict[tuple[str, str], int] = {}

    def check_available(self):
        pass

    def init_lockspace(self, lockspace, path):
        pass

    def init_resource(self, lockspace, resource, path, offset):
        pass

    def acquire_host_id(self, lockspace, host_id, path, *, wait):
        if self.storage_ok:
            self.host_ids[lockspace] = host_id

    def release_host_id(self, lockspace, host_id, path, *, wait):
        self.host_ids.pop(lockspace, None)

    def has_host_id(self, lockspace, host_id, path):
        if not self.storage_ok:
            self.host_ids.pop(lockspace, None)
        return self.host_ids.get(lockspace) == host_id

    def acquire(self, lockspace, resource, path, offset):
        key = (lockspace, resource)
        if key in self.owners:
            raise DomainAlreadyLocked("held")
        self.owners[key] = self.host_ids[lockspace]
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.status(lockspace, resource, path, offset)

    def release(self, lockspace, resource, path, offset):
        self.owners.pop((lockspace, resource), None)

    def status(self, lockspace, resource, path, offset):
        key = (lockspace, resource)
        owner = self.owners.get(key)
        return LeaseStatus(self.versions.get(key, 0),
                           (LeaseOwner(owner, 1),) if owner else ())


@pytest.fixture
def pool_env(local_ctx):
    data_dir = os.path.join(os.path.dirname(local_ctx.mount_root), "export")
    os.makedirs(data_dir)
    os.symlink(data_dir, os.path.join(local_ctx.mount_root,
                                      mounts.transform_path(data_dir)))
    fake = MemoryLeases()
    local_ctx.leases = fake
    cache = DomainCache(local_ctx, lookup_timeout=5)
    sd_uuid, sp_uuid = new_uuid(), new_uuid()
    DomainService(local_ctx, cache).create(
        storage_type=sc.LOCALFS_DOMAIN, sd_uuid=sd_uuid, name="master",
        type_arg=data_dir, dom_class=sc.DATA_DOMAIN, version=None)
    pools.create(cache, sp_uuid=sp_uuid, name="p", master_uuid=sd_uuid,
                 master_version=1, lease_params={})
    monitor = DomainMonitor(cache, fake, interval=0.1, io_timeout=2)
    pool = pools.StoragePool(sp_uuid, host_id=1, master_uuid=sd_uuid, cache=cache,
                             monitor=monitor, repository=local_ctx.repository)
    pool.connect(1)
    holder = {}
    registry = RecoveryRegistry()
    Recoveries(cache, lambda: holder["spm"].guard()).register(registry)
    undone = []
    registry.register("test.undo", lambda what: undone.append(what))
    yield {"pool": pool, "fake": fake, "registry": registry, "holder": holder,
           "undone": undone, "cache": cache, "sd": sd_uuid, "events": Recorder()}
    monitor.shutdown()


def new_spm(env):
    spm = Spm(env["pool"], env["fake"], registry=env["registry"], workers=2,
              error_code=error_code, host_id_timeout=5, fence_interval=0.1,
              publisher=env["events"])
    env["holder"]["spm"] = spm
    host_tasks = TaskManager(1)
    task_id = host_tasks.schedule(spm.start_job)
    assert host_tasks.wait(task_id, 10)
    assert host_tasks.get_status(task_id)["taskResult"] == "success"
    host_tasks.shutdown(5)
    return spm


def test_spm_that_loses_storage_fences_itself_and_the_next_one_rolls_back(pool_env):
    env = pool_env
    spm = new_spm(env)
    assert spm.role == "SPM"
    started = threading.Event()

    def job(ctx):
        ctx.add_recovery("test.undo", {"what": "half-made thing"})
        ctx.add_recovery(recovery.RESTORE_VOLTYPE, {
            "sd_uuid": env["sd"], "img_uuid": new_uuid(), "vol_uuid": new_uuid(),
            "voltype": "LEAF"})
        started.set()
        while not ctx.wait(0.05):
            spm.guard()  # before each write

    task_id = spm.schedule(job, verb="longJob")
    assert started.wait(5)
    tasks = spm.tasks
    env["fake"].storage_ok = False  # the master domain's storage is gone
    wait_for(lambda: spm.role == "Free", 5, "the SPM to fence itself")
    with pytest.raises(SpmStatusError):
        spm.guard()
    wait_for(lambda: not env["fake"].owners, 5, "the SPM lease given up")
    # the lease is given up first (the lease manager may be waiting for
    # it), then the tasks are stopped
    wait_for(lambda: spm.tasks is None, 5, "the SPM's tasks stopped")
    wait_for(lambda: tasks.get_status(task_id)["taskState"] == "finished", 5,
             "the interrupted task finished")
    status = tasks.get_status(task_id)
    assert status["taskState"] == "finished"
    assert status["taskResult"] == "cleanFailure"  # undo refused: not SPM
    assert status["code"] == 654
    assert env["undone"] == []

    # storage is back; the next SPM finds the task and rolls it back
    env["fake"].storage_ok = True
    wait_for(lambda: env["pool"].monitor.has_host_id(env["sd"]), 5, "host id")
    spm2 = new_spm(env)
    wait_for(lambda: spm2.tasks.get_status(task_id)["taskResult"] == "cleanSuccess",
             10, "the rollback")
    assert env["undone"] == ["half-made thing"]
    # the pool's tasks publish their states, from either SPM's manager
    results = [p["taskResult"]
               for p in env["events"].of(f"|tasks|status|{task_id}")]
    assert results[0] == "" and "cleanFailure" in results
    assert results[-1] == "cleanSuccess"
    spm2.stop()
    assert spm2.role == "Free"
    md = env["pool"].metadata()
    assert md[sc.PMD_SPM_ID] == "-1" and int(md[sc.PMD_SPM_LVER]) == 2


def test_a_second_spm_is_refused_while_the_lease_is_held(pool_env):
    env = pool_env
    spm = new_spm(env)
    other = Spm(env["pool"], env["fake"], registry=env["registry"], workers=1,
                error_code=error_code, host_id_timeout=1, fence_interval=1)
    host_tasks = TaskManager(1, error_code=error_code)
    task_id = host_tasks.schedule(other.start_job)
    assert host_tasks.wait(task_id, 10)
    status = host_tasks.get_status(task_id)
    assert status["taskResult"] == "cleanSuccess" and status["code"] == 650
    assert other.role == "Free"
    host_tasks.shutdown(5)
    spm.stop()
