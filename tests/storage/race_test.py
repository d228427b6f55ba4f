"""Races through the API: the resource manager keeps every chain whole.

Several createVolume calls on one image at once, and deleteImage racing
copyImage, on a real SPM (vdsmd, sanlock, loop-backed ext4).
"""

from __future__ import annotations

import threading

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.storage import qemuimg

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, SPARSE = 5, 4, 2


@pytest.fixture(scope="module")
def spm():
    ensure_vdsm_user()
    host = StorageHost().start()
    try:
        with loop_ext4(512) as device:
            names = create_pool(host.proxy(), device)
            yield host, names
            ok(host.proxy().spmStop(names["sp"]))
            ok(host.proxy().disconnectStoragePool(names["sp"], 1, ""))
            ok(host.proxy().disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


def concurrently(calls):
    """Start every call at once (each with its own proxy); answers in order."""
    answers = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, call):
        barrier.wait(10)
        answers[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def leaves(p, sd, sp, img):
    vols = ok(p.getVolumesList(sd, sp, img))["uuidlist"]
    infos = {v: ok(p.getVolumeInfo(sd, sp, img, v))["info"] for v in vols}
    return [v for v, i in infos.items() if i["voltype"] == "LEAF"], infos


def test_concurrent_creates_on_one_image_keep_one_chain(spm):
    host, names = spm
    sd, sp = names["sd"], names["sp"]
    p = host.proxy()
    img = new_uuid()
    # several base volumes for one new image: exactly one may win
    vols = [new_uuid() for _ in range(5)]
    tasks = concurrently([
        (lambda v=v: ok(host.proxy().createVolume(
            sd, sp, img, 8 * MiB, RAW, SPARSE, "DATA", v, "base"))["uuid"])
        for v in vols])
    results = [wait_task(p, t) for t in tasks]
    assert sorted(r["taskResult"] for r in results) == \
        ["cleanSuccess"] * 4 + ["success"]
    base = vols[[r["taskResult"] for r in results].index("success")]
    # several snapshots of the same leaf at once: exactly one may win
    snaps = [new_uuid() for _ in range(5)]
    tasks = concurrently([
        (lambda s=s: ok(host.proxy().createVolume(
            sd, sp, img, 8 * MiB, COW, SPARSE, "DATA", s, "snap", img, base))["uuid"])
        for s in snaps])
    results = [wait_task(p, t) for t in tasks]
    assert [r["taskResult"] for r in results].count("success") == 1
    winner = snaps[[r["taskResult"] for r in results].index("success")]
    leaf, infos = leaves(p, sd, sp, img)
    assert leaf == [winner]
    assert sorted(infos) == sorted([base, winner])
    assert all(i["legality"] == "LEGAL" for i in infos.values())
    path = ok(p.getVolumePath(sd, sp, img, winner))["path"]
    assert [c["format"] for c in qemuimg.info(path, backing_chain=True)] == [
        "qcow2", "raw"]


def test_delete_image_racing_copy_image(spm):
    host, names = spm
    sd, sp = names["sd"], names["sp"]
    p = host.proxy()
    outcomes = set()
    for _ in range(4):
        img, vol = new_uuid(), new_uuid()
        status = wait_task(p, ok(p.createVolume(sd, sp, img, 64 * MiB, RAW, SPARSE,
                                                "DATA", vol, "src"))["uuid"])
        assert status["taskResult"] == "success"
        path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
        with open(path, "r+b") as f:
            for i in range(0, 64 * MiB, 4 * MiB):
                f.seek(i)
                f.write(b"x" * 65536)
        dst_img, dst_vol = new_uuid(), new_uuid()
        copy, delete = concurrently([
            lambda img=img, vol=vol, dst_img=dst_img, dst_vol=dst_vol: ok(
                host.proxy().copyImage(sd, sp, "", img, vol, dst_img, dst_vol,
                                       "copy", BLANK, 8, RAW, SPARSE))["uuid"],
            lambda img=img: ok(host.proxy().deleteImage(sd, sp, img))["uuid"]])
        copied = wait_task(p, copy)
        deleted = wait_task(p, delete)
        assert deleted["taskResult"] == "success"
        assert img not in ok(p.getImagesList(sd))["imageslist"]
        images = ok(p.getImagesList(sd))["imageslist"]
        if copied["taskResult"] == "success":
            outcomes.add("copied first")
            info = ok(p.getVolumeInfo(sd, sp, dst_img, dst_vol))["info"]
            assert info["legality"] == "LEGAL"
            dst_path = ok(p.getVolumePath(sd, sp, dst_img, dst_vol))["path"]
            with open(dst_path, "rb") as f:
                assert f.read(65536) == b"x" * 65536
            wait_task(p, ok(p.deleteImage(sd, sp, dst_img))["uuid"])
        else:
            outcomes.add("deleted first")
            assert copied["taskResult"] == "cleanSuccess", copied
            assert dst_img not in images  # nothing half-copied is left
    assert outcomes  # at least one ordering was exercised without corruption
