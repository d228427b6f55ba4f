"""Master migration through the API, on real storage (storage/spm/master_migration.py).

vdsmd + supervdsmd + a private sanlock on a loop-backed ext4 posixfs mount
with two data domains: deactivating the master with the other domain as
the new master moves the pool keys, the role, the SPM lease and the tasks;
bad requests change nothing; a failure midway rolls back to the old master;
a host reconnecting finds the new master.
"""

from __future__ import annotations

import os

from tests.storage.helpers import (
    BLANK,
    become_spm,
    code,
    create_pool,
    loop_ext4,
    merged,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_task,
)
from vdsm.storage.domains import metadata

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, SPARSE = 5, 2
POOL_KEYS = ("POOL_DESCRIPTION", "POOL_DOMAINS", "POOL_SPM_ID", "POOL_SPM_LVER",
             "MASTER_VERSION")


def create_volume(p, sd, sp):
    img, vol = new_uuid(), new_uuid()
    answer = p.createVolume(sd, sp, img, 8 * MiB, RAW, SPARSE, "DATA", vol, "v")
    task = ok(answer)["uuid"]
    status = wait_task(p, task)
    assert status["taskResult"] == "success", status
    ok(p.clearTask(task))
    return img, vol


def read_md(mnt, sd):
    with open(os.path.join(mnt, sd, "dom_md", "metadata"), "rb") as f:
        return metadata.parse_domain(f.read())  # checksum verified


def pool_info(p, sp):
    return merged(p.getStoragePoolInfo(sp))["info"]


def test_master_migration(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device)
        sd, sp = names["sd"], names["sp"]
        mnt = os.path.join(host.config.mount_root, "_dev_" + os.path.basename(device))
        sd2 = new_uuid()
        ok(p.createStorageDomain(6, sd2, "second", device, 1))
        ok(p.attachStorageDomain(sd2, sp))
        ok(p.activateStorageDomain(sd2, sp))
        img, vol = create_volume(p, sd, sp)
        before = read_md(mnt, sd)
        lver = ok(p.getSpmStatus(sp))["spm_st"]["spmLver"]

        # refused, nothing changed: version not greater, non-member, not active
        assert code(p.deactivateStorageDomain(sd, sp, sd2, 1)) == 355
        assert code(p.deactivateStorageDomain(sd, sp, new_uuid(), 2)) == 369
        iso = new_uuid()
        ok(p.createStorageDomain(6, iso, "attached only", device, 1))
        ok(p.attachStorageDomain(iso, sp))
        assert code(p.deactivateStorageDomain(sd, sp, iso, 2)) == 369
        assert code(p.deactivateStorageDomain(sd, sp, BLANK, 2)) != 0  # no last-master
        after = read_md(mnt, sd)
        unchanged = set(POOL_KEYS) - {"POOL_DOMAINS"}  # the attach above changed it
        assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
        assert after["ROLE"] == "Master" and read_md(mnt, sd2)["ROLE"] == "Regular"
        assert "MASTER_VERSION" not in read_md(mnt, sd2)
        assert pool_info(p, sp)["master_uuid"] == sd

        # a failure midway (the old master's metadata cannot be written)
        # rolls back: one master, the old one, still working as SPM
        dom_md = os.path.join(mnt, sd, "dom_md")
        os.chmod(dom_md, 0o555)
        try:
            failed = p.deactivateStorageDomain(sd, sp, sd2, 2)
        finally:
            os.chmod(dom_md, 0o755)
        assert code(failed) == 355, failed
        assert "Master migration" in failed["status"]["message"]
        assert read_md(mnt, sd)["ROLE"] == "Master", host.output()[-3000:]
        assert read_md(mnt, sd)["MASTER_VERSION"] == "1"
        new_md = read_md(mnt, sd2)
        assert new_md["ROLE"] == "Regular", host.output()[-6000:]
        assert "POOL_DOMAINS" not in new_md
        assert not os.listdir(os.path.join(mnt, sd2, "master", "tasks"))
        info = pool_info(p, sp)
        assert (info["master_uuid"], info["master_ver"]) == (sd, 1)
        assert os.readlink(os.path.join(host.config.repository, sp, "mastersd")) \
            == os.path.join(mnt, sd)
        create_volume(p, sd, sp)

        # the migration itself, with a finished task left uncleared
        kept = ok(p.createVolume(sd, sp, new_uuid(), MiB, RAW, SPARSE, "DATA",
                                 new_uuid(), "kept"))["uuid"]
        wait_task(p, kept)
        ok(p.deactivateStorageDomain(sd, sp, sd2, 2))
        assert os.listdir(os.path.join(mnt, sd2, "master", "tasks")) == [kept]
        assert not os.path.exists(os.path.join(mnt, sd, "master", "tasks", kept))
        assert ok(p.getTaskStatus(kept))["taskStatus"]["taskResult"] == "success"
        ok(p.clearTask(kept))
        info = pool_info(p, sp)
        assert (info["master_uuid"], info["master_ver"], info["spm_id"]) == (sd2, 2, 1)
        assert info["lver"] > lver
        doms = dict(d.split(":") for d in info["domains"].split(","))
        assert doms == {sd: "Attached", sd2: "Active", iso: "Attached"}
        old_md, new_md = read_md(mnt, sd), read_md(mnt, sd2)
        assert old_md["ROLE"] == "Regular" and old_md["POOL_UUID"] == sp
        assert not set(POOL_KEYS) & set(old_md)
        assert new_md["ROLE"] == "Master" and new_md["MASTER_VERSION"] == "2"
        assert new_md["POOL_DESCRIPTION"] == "test pool"
        assert new_md["POOL_SPM_ID"] == "1"
        assert int(new_md["POOL_SPM_LVER"]) == info["lver"]
        assert os.readlink(os.path.join(host.config.repository, sp, "mastersd")) \
            == os.path.join(mnt, sd2)
        spm = ok(p.getSpmStatus(sp))["spm_st"]
        assert (spm["spmStatus"], spm["spmLver"]) == ("SPM", info["lver"])
        img2, _ = create_volume(p, sd2, sp)  # the SPM works on the new master
        assert os.path.isdir(os.path.join(mnt, sd2, "images", img2))
        assert os.path.exists(os.path.join(mnt, sd, "images", img, vol))

        # a host reconnecting finds the new master; the old one is refused
        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        assert code(p.connectStoragePool(sp, 1, "", sd, 1)) == 355
        ok(p.connectStoragePool(sp, 1, "", sd2, 2))
        become_spm(p, sp)
        spm = ok(p.getSpmStatus(sp))["spm_st"]
        assert spm["spmStatus"] == "SPM" and spm["spmLver"] > info["lver"]
        create_volume(p, sd2, sp)
        ok(p.refreshStoragePool(sp, sd2, 2))
        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
