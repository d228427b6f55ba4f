"""The whole single-host story through the API, on real storage.

vdsmd (as the vdsm user) with supervdsmd and a private sanlock daemon; a
POSIX domain that is a real mount of a loop-backed ext4: connect, create
domains and a pool, become SPM, create RAW/COW volumes and a snapshot,
check the chain with qemu-img, copy and move images, read the metadata
files back in the classic format, delete, disconnect.
"""

from __future__ import annotations

import os

from tests.storage.helpers import (
    BLANK,
    create_pool,
    loop_ext4,
    merged,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_task,
)
from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm.storage.domains import metadata

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, PREALLOCATED, SPARSE = 5, 4, 1, 2


def run_task(proxy, answer):
    status = wait_task(proxy, ok(answer)["uuid"])
    assert status["taskResult"] == "success", status
    return status


def test_single_host_scenario(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device)
        sd, sp, con = names["sd"], names["sp"], names["con"]
        mnt = os.path.join(host.config.mount_root, "_dev_" + os.path.basename(device))
        assert os.stat(mnt).st_uid != 0  # handed over to the vdsm user

        # a second data domain, attached and activated by the SPM
        sd2 = new_uuid()
        ok(p.createStorageDomain(6, sd2, "second", device, 1))
        ok(p.attachStorageDomain(sd2, sp))
        ok(p.activateStorageDomain(sd2, sp))
        info = merged(p.getStoragePoolInfo(sp))
        assert info["info"]["spm_id"] == 1 and info["info"]["master_uuid"] == sd
        assert sorted(info["info"]["domains"].split(",")) == sorted(
            [f"{sd}:Active", f"{sd2}:Active"])
        assert int(info["dominfo"][sd]["disktotal"]) > 200 * MiB
        assert sorted(ok(p.getStorageDomainsList(sp))["domlist"]) == sorted([sd, sd2])
        spm = ok(p.getSpmStatus(sp))["spm_st"]
        assert spm["spmStatus"] == "SPM" and spm["spmId"] == 1 and spm["spmLver"] >= 1

        # RAW base, a snapshot on it, and a separate COW volume
        img, base, snap = new_uuid(), new_uuid(), new_uuid()
        cow_img, cow = new_uuid(), new_uuid()
        run_task(p, p.createVolume(sd, sp, img, 32 * MiB, RAW, SPARSE, "DATA", base,
                                   "base"))
        base_path = ok(p.getVolumePath(sd, sp, img, base))["path"]
        with open(base_path, "r+b") as f:  # some data to follow through copies
            f.write(b"vdsm" * 1024)
        run_task(p, p.createVolume(sd, sp, img, 32 * MiB, COW, SPARSE, "DATA", snap,
                                   "snapshot", img, base))
        run_task(p, p.createVolume(sd, sp, cow_img, 16 * MiB, COW, SPARSE, "DATA",
                                   cow, "cow"))
        snap_path = ok(p.getVolumePath(sd, sp, img, snap))["path"]
        chain = qemuimg.info(snap_path, backing_chain=True)
        assert [c["format"] for c in chain] == ["qcow2", "raw"]
        assert chain[0]["backing-filename"] == base
        assert chain[1]["filename"] == base_path

        vinfo = ok(p.getVolumeInfo(sd, sp, img, base))["info"]
        assert vinfo["voltype"] == "INTERNAL" and vinfo["children"] == [snap]
        vinfo = ok(p.getVolumeInfo(sd, sp, img, snap))["info"]
        assert (vinfo["format"], vinfo["voltype"], vinfo["legality"],
                vinfo["parent"], vinfo["capacity"]) == (
            "COW", "LEAF", "LEGAL", base, str(32 * MiB))
        size = merged(p.getVolumeSize(sd, sp, img, base))
        assert size["apparentsize"] == str(32 * MiB)
        assert int(size["truesize"]) < 32 * MiB  # sparse
        ok(p.setVolumeDescription(sd, sp, img, snap, "described"))
        assert ok(p.getVolumeInfo(sd, sp, img, snap))["info"]["description"] == \
            "described"
        run_task(p, p.extendVolumeSize(sp, sd, cow_img, cow, 24 * MiB))
        assert qemuimg.info(ok(p.getVolumePath(sd, sp, cow_img, cow))["path"])[
            "virtual-size"] == 24 * MiB

        # metadata files read back in the classic format
        with open(snap_path + ".meta", "rb") as f:
            raw_meta = f.read()
        lines = raw_meta.decode().splitlines()
        assert lines[-1] == "EOF" and lines[:-1] == sorted(lines[:-1])
        meta = metadata.parse_volume(raw_meta)
        assert (meta["FORMAT"], meta["PUUID"], meta["VOLTYPE"], meta["LEGALITY"],
                meta["DESCRIPTION"], meta["IMAGE"], meta["DOMAIN"]) == (
            "COW", base, "LEAF", "LEGAL", "described", img, sd)
        with open(os.path.join(mnt, sd, "dom_md", "metadata"), "rb") as f:
            dom_md = metadata.parse_domain(f.read())  # checksum verified
        assert (dom_md["ROLE"], dom_md["POOL_UUID"], dom_md["POOL_SPM_ID"]) == (
            "Master", sp, "1")
        assert sorted(dom_md["POOL_DOMAINS"].split(",")) == sorted(
            [f"{sd}:Active", f"{sd2}:Active"])

        # prepareImage: the leaf through the pool's links, and the chain
        prepared = merged(p.prepareImage(sp, sd, img, snap))
        assert prepared["path"] == os.path.join(host.config.repository, sp, sd,
                                                "images", img, snap)
        assert [v["volumeID"] for v in prepared["imgVolumesInfo"]] == [base, snap]
        assert os.path.exists(prepared["path"])
        ok(p.teardownImage(sp, sd, img, snap))

        # copyImage: collapse the chain into a template, then compare data
        tmpl_img, tmpl = new_uuid(), new_uuid()
        run_task(p, p.copyImage(sd, sp, "", img, snap, tmpl_img, tmpl, "template",
                                BLANK, 6, RAW, SPARSE))
        tinfo = ok(p.getVolumeInfo(sd, sp, tmpl_img, tmpl))["info"]
        assert (tinfo["voltype"], tinfo["format"], tinfo["parent"]) == (
            "SHARED", "RAW", BLANK)
        tmpl_path = ok(p.getVolumePath(sd, sp, tmpl_img, tmpl))["path"]
        commands.run(["qemu-img", "compare", "-U", snap_path, tmpl_path])

        # moveImage: copy the chain to the second domain, then move it back
        run_task(p, p.moveImage(sp, sd, sd2, img, "", 1))
        assert sorted(ok(p.getVolumesList(sd2, sp, img))["uuidlist"]) == sorted(
            [base, snap])
        moved = ok(p.getVolumePath(sd2, sp, img, snap))["path"]
        assert qemuimg.info(moved)["backing-filename"] == base
        commands.run(["qemu-img", "compare", "-U", snap_path, moved])
        run_task(p, p.deleteImage(sd2, sp, img))
        run_task(p, p.moveImage(sp, sd, sd2, cow_img, "", 2))
        assert cow_img not in ok(p.getImagesList(sd))["imageslist"]
        assert cow_img in ok(p.getImagesList(sd2))["imageslist"]

        # delete: the snapshot (its parent becomes the leaf), then images
        run_task(p, p.deleteVolume(sd, sp, img, [snap]))
        assert ok(p.getVolumeInfo(sd, sp, img, base))["info"]["voltype"] == "LEAF"
        run_task(p, p.deleteImage(sd, sp, img))
        run_task(p, p.deleteImage(sd, sp, tmpl_img))
        assert ok(p.getImagesList(sd))["imageslist"] == []
        assert not os.path.exists(os.path.join(mnt, sd, "images", img))

        # tasks of the pool persist on the master domain
        tasks = ok(p.getAllTasksStatuses())["allTasksStatus"]
        task_dir = os.path.join(mnt, sd, "master", "tasks")
        assert set(tasks) >= set(os.listdir(task_dir))
        assert len(os.listdir(task_dir)) >= 10

        # take it all down
        ok(p.deactivateStorageDomain(sd2, sp, sd, 1))
        ok(p.detachStorageDomain(sd2, sp, sd, 1))
        assert ok(p.getStorageDomainInfo(sd2))["info"]["pool"] == []
        assert p.disconnectStoragePool(sp, 1, "")["status"]["code"] == 656  # IsSpm
        ok(p.spmStop(sp))
        assert ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"] == "Free"
        ok(p.disconnectStoragePool(sp, 1, ""))
        assert ok(p.getConnectedStoragePoolsList())["poollist"] == []
        assert not os.path.exists(os.path.join(host.config.repository, sp))
        statuses = ok(p.disconnectStorageServer(6, BLANK, [con]))["statuslist"]
        assert statuses == [{"id": con["id"], "status": 0}]
        assert not os.path.ismount(mnt)
