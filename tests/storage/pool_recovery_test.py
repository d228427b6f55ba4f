"""Pool recovery through the API on real storage (storage/pool_recovery.py,
storage/spm/{reconstruct,upgrade,forced_detach}.py).

One host (vdsmd, supervdsmd, a private sanlock) and one loop-backed ext4
shared by the module: a pool whose master is lost to a forced detach, then
the main pool (master sd1, sd2, sd3 active, sd4 of format 3) for the
upgrade, then its master directory removed with rm -rf while the agent
runs and the pool reconstructed. The tests run in file order. A reachable
old master made regular (block and file): block_reconstruct_test.
"""

from __future__ import annotations

import os
import pwd
import shutil

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    code,
    loop_ext4,
    merged,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    posix_connection,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.storage.domains import metadata

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, SPARSE = 5, 2


class Env:
    def __init__(self, host: StorageHost, device: str) -> None:
        self.host = host
        self.p = host.proxy()
        self.mnt = os.path.join(host.config.mount_root,
                                "_dev_" + os.path.basename(device))
        self.device = device

    def domain(self, name: str, version: int = 5) -> str:
        sd = new_uuid()
        ok(self.p.createStorageDomain(6, sd, name, self.device, 1, version))
        return sd

    def md(self, sd: str) -> dict[str, str]:
        with open(os.path.join(self.mnt, sd, "dom_md", "metadata"), "rb") as f:
            return metadata.parse_domain(f.read())  # checksum verified

    def raw_md(self, sd: str) -> bytes:
        with open(os.path.join(self.mnt, sd, "dom_md", "metadata"), "rb") as f:
            return f.read()

    def info(self, sp: str) -> dict:
        return merged(self.p.getStoragePoolInfo(sp))["info"]

    def create_volume(self, sd: str, sp: str) -> str:
        img = new_uuid()
        task = ok(self.p.createVolume(sd, sp, img, 8 * MiB, RAW, SPARSE, "DATA",
                                      new_uuid(), "after recovery"))["uuid"]
        status = wait_task(self.p, task)
        assert status["taskResult"] == "success", status
        ok(self.p.clearTask(task))
        return img

    def leave(self, sp: str) -> None:
        ok(self.p.spmStop(sp))
        ok(self.p.disconnectStoragePool(sp, 1, ""))


@pytest.fixture(scope="module")
def env():
    ensure_vdsm_user()
    host = StorageHost().start()
    try:
        with loop_ext4(256) as device:
            e = Env(host, device)
            con = posix_connection(device)
            ok(e.p.connectStorageServer(6, BLANK, [con]))
            # a pool that is lost: its master's directory is gone, with
            # e.lost_member still naming it
            lost_master, e.lost_member, e.lost_sp = (e.domain("lost master"),
                                                     e.domain("orphan"), new_uuid())
            ok(e.p.createStoragePool(0, e.lost_sp, "lost", lost_master,
                                     [lost_master], 1))
            ok(e.p.connectStoragePool(e.lost_sp, 1, "", lost_master, 1))
            become_spm(e.p, e.lost_sp)
            ok(e.p.attachStorageDomain(e.lost_member, e.lost_sp))
            e.leave(e.lost_sp)
            shutil.rmtree(os.path.join(e.mnt, lost_master))
            # the main pool
            e.sd1, e.sd2, e.sd3 = (e.domain(n) for n in ("sd1", "sd2", "sd3"))
            e.sd4 = e.domain("format 3", version=3)
            e.sp = new_uuid()
            ok(e.p.createStoragePool(0, e.sp, "main", e.sd1, [e.sd1], 1))
            ok(e.p.connectStoragePool(e.sp, 1, "", e.sd1, 1))
            become_spm(e.p, e.sp)
            for sd in (e.sd2, e.sd3):
                ok(e.p.attachStorageDomain(sd, e.sp))
                ok(e.p.activateStorageDomain(sd, e.sp))
            ok(e.p.attachStorageDomain(e.sd4, e.sp))
            yield e
            if e.p.getConnectedStoragePoolsList()["poollist"]:
                e.p.spmStop(e.sp)
                e.p.disconnectStoragePool(e.sp, 1, "")
            ok(e.p.disconnectStorageServer(6, BLANK, [con]))
    finally:
        host.stop()


def test_forced_detach_frees_a_domain_of_a_lost_pool(env):
    e = env
    assert e.md(e.lost_member)["POOL_UUID"] == e.lost_sp
    # it does not name that pool: refused, unchanged
    assert code(e.p.forcedDetachStorageDomain(e.lost_member, new_uuid())) == 353
    ok(e.p.forcedDetachStorageDomain(e.lost_member, e.lost_sp))
    md = e.md(e.lost_member)
    assert (md["POOL_UUID"], md["ROLE"]) == ("", "Regular")
    # ... and joins the main pool, where the SPM can force it out again
    ok(e.p.attachStorageDomain(e.lost_member, e.sp))
    ok(e.p.activateStorageDomain(e.lost_member, e.sp))
    assert code(e.p.detachStorageDomain(e.sd1, e.sp, BLANK, 0, True)) == 383
    ok(e.p.detachStorageDomain(e.lost_member, e.sp, BLANK, 0, True))  # active
    assert e.lost_member not in e.info(e.sp)["domains"]
    assert e.md(e.lost_member)["POOL_UUID"] == ""
    assert not os.path.lexists(os.path.join(e.host.config.repository, e.sp,
                                            e.lost_member))


def test_upgrade(env):
    e = env
    before = {sd: e.raw_md(sd) for sd in (e.sd1, e.sd2, e.sd3, e.sd4)}
    assert ok(e.p.upgradeStoragePool(e.sp, 5))["upgradeStatus"] == "started"
    assert {sd: e.raw_md(sd) for sd in before} == before  # nothing to do
    for bad in (6, 2, 4):  # unknown, unknown, below the master's
        assert code(e.p.upgradeStoragePool(e.sp, bad)) == 394
    md4 = e.md(e.sd4)
    assert md4["VERSION"] == "3" and "BLOCK_SIZE" not in md4  # format 3 layout
    ok(e.p.activateStorageDomain(e.sd4, e.sp))
    ok(e.p.upgradeStoragePool(e.sp, 5))
    md4 = e.md(e.sd4)
    assert (md4["VERSION"], md4["BLOCK_SIZE"], md4["ALIGNMENT"]) == \
        ("5", "512", str(MiB))
    assert e.raw_md(e.sd2) == before[e.sd2]
    e.create_volume(e.sd4, e.sp)


def reconstruct(e, master, version, domains, host_id=1):
    return e.p.reconstructMaster(e.sp, "recovered", master, domains, version,
                                 "", 0, 0, 0, 0, host_id)


def test_reconstruct_after_the_master_directory_is_removed(env):
    e = env
    stale = os.path.join(e.mnt, e.sd2, "master", "tasks", new_uuid())
    os.makedirs(stale)
    with open(os.path.join(stale, "task.json"), "w") as f:
        f.write("{}")
    vdsm = pwd.getpwnam("vdsm")
    for path in (os.path.dirname(os.path.dirname(stale)), os.path.dirname(stale),
                 stale, os.path.join(stale, "task.json")):
        os.chown(path, vdsm.pw_uid, vdsm.pw_gid)  # as the agent would have
    shutil.rmtree(os.path.join(e.mnt, e.sd1))   # while the agent runs
    ok(e.p.spmStop(e.sp))
    ok(e.p.disconnectStoragePool(e.sp, 1, ""))
    domains = {e.sd1: "Attached", e.sd2: "Active", e.sd3: "active", e.sd4: "Active"}

    # refused, nothing written
    unknown = new_uuid()
    assert code(reconstruct(e, unknown, 2, {**domains, unknown: "Active"})) == 358
    assert code(reconstruct(e, e.sd2, 2, {e.sd3: "Active"})) == 1000
    assert code(reconstruct(e, e.sd2, 2, {**domains, e.sd3: "Lost"})) == 376
    assert e.md(e.sd2)["ROLE"] == "Regular" and os.path.isdir(stale)

    ok(reconstruct(e, e.sd2, 2, domains))
    md2 = e.md(e.sd2)
    assert (md2["ROLE"], md2["POOL_UUID"], md2["MASTER_VERSION"]) == \
        ("Master", e.sp, "2")
    assert not os.path.exists(stale)  # a stale task record is not recovered
    assert os.path.isdir(os.path.join(e.mnt, e.sd2, "master", "vms"))
    # sd2 is this pool's master at 2 now: not again at 2 elsewhere
    assert code(reconstruct(e, e.sd3, 2, domains)) == 326
    assert e.md(e.sd3)["ROLE"] == "Regular"

    ok(e.p.connectStoragePool(e.sp, 1, "", e.sd2, 2))
    assert code(reconstruct(e, e.sd3, 3, domains)) == 325  # connected
    become_spm(e.p, e.sp)
    info = e.info(e.sp)
    assert (info["master_uuid"], info["master_ver"], info["name"]) == \
        (e.sd2, 2, "recovered")
    doms = dict(d.split(":") for d in info["domains"].split(","))
    assert doms == {e.sd1: "Attached", e.sd2: "Active", e.sd3: "Active",
                    e.sd4: "Active"}
    assert ok(e.p.getSpmStatus(e.sp))["spm_st"]["spmStatus"] == "SPM"
    tasks = ok(e.p.getAllTasksStatuses())["allTasksStatus"]
    assert os.path.basename(stale) not in tasks
    assert all(t["taskState"] == "finished" for t in tasks.values())
    img = e.create_volume(e.sd2, e.sp)   # a new SPM task runs
    assert os.path.isdir(os.path.join(e.mnt, e.sd2, "images", img))
    e.create_volume(e.sd3, e.sp)
    kept = ok(e.p.createVolume(e.sd3, e.sp, new_uuid(), MiB, RAW, SPARSE, "DATA",
                               new_uuid(), "kept"))["uuid"]
    wait_task(e.p, kept)  # finished, not cleared: a record on sd2
    assert os.listdir(os.path.join(e.mnt, e.sd2, "master", "tasks")) == [kept]
    ok(e.p.clearTask(kept))
