"""Two hosts, one shared domain: SPM exclusivity and take-over.

Each simulated host has its own root, supervdsmd, vdsmd and sanlock daemon
(separate run directories, so separate sanlock host identities); both
mount the same loop-backed ext4 as their POSIX domain. Host ids 1 and 2.
"""

from __future__ import annotations

import threading

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    posix_connection,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, SPARSE = 5, 4, 2
NOT_SPM = 654


@pytest.fixture
def hosts():
    ensure_vdsm_user()
    started = []
    try:
        for _ in range(2):
            started.append(StorageHost().start())
        yield started
    finally:
        for host in started:
            host.stop()


def in_parallel(*calls):
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_one_spm_refusal_and_take_over(hosts):
    a, b = hosts
    pa, pb = a.proxy(), b.proxy()
    with loop_ext4(256) as device:
        con = posix_connection(device)
        for p in (pa, pb):
            assert ok(p.connectStorageServer(6, BLANK, [con]))["statuslist"][0][
                "status"] == 0
        sd, sp = new_uuid(), new_uuid()
        ok(pa.createStorageDomain(6, sd, "shared", device, 1))
        ok(pa.createStoragePool(0, sp, "two hosts", sd, [sd], 1))
        assert sd in ok(pb.getStorageDomainsList())["domlist"]  # same storage
        in_parallel(lambda: ok(pa.connectStoragePool(sp, 1, "", sd, 1)),
                    lambda: ok(pb.connectStoragePool(sp, 2, "", sd, 1)))

        # both contend at once: exactly one wins the SPM lease
        tasks = in_parallel(
            lambda: ok(a.proxy().spmStart(sp, -1, -1, -1, False))["uuid"],
            lambda: ok(b.proxy().spmStart(sp, -1, -1, -1, False))["uuid"])
        results = [wait_task(p, t, 90) for p, t in zip((pa, pb), tasks, strict=True)]
        outcomes = sorted(r["taskResult"] for r in results)
        assert outcomes == ["cleanSuccess", "success"], results
        spm, other = (pa, pb) if results[0]["taskResult"] == "success" else (pb, pa)
        spm_id = 1 if spm is pa else 2
        other_id = 3 - spm_id
        first = ok(spm.getSpmStatus(sp))["spm_st"]
        assert first["spmStatus"] == "SPM" and first["spmId"] == spm_id
        seen = ok(other.getSpmStatus(sp))["spm_st"]
        assert seen["spmStatus"] == "Free"
        assert seen["spmId"] == spm_id and seen["spmLver"] == first["spmLver"]

        # a metadata verb on the other host is refused with "Not SPM"
        img, base = new_uuid(), new_uuid()
        refused = other.createVolume(sd, sp, img, 8 * MiB, RAW, SPARSE, "DATA",
                                     base, "x")
        assert refused["status"]["code"] == NOT_SPM
        assert other.attachStorageDomain(new_uuid(), sp)["status"]["code"] == NOT_SPM
        status = wait_task(spm, ok(spm.createVolume(sd, sp, img, 8 * MiB, RAW,
                                                    SPARSE, "DATA", base,
                                                    "by the first SPM"))["uuid"])
        assert status["taskResult"] == "success"
        # any host reads what the SPM wrote
        assert ok(other.getVolumeInfo(sd, sp, img, base))["info"]["description"] \
            == "by the first SPM"

        # the SPM steps down; the other host takes over and sees the images
        ok(spm.spmStop(sp))
        become_spm(other, sp)
        second = ok(other.getSpmStatus(sp))["spm_st"]
        assert second["spmStatus"] == "SPM" and second["spmId"] == other_id
        assert second["spmLver"] > first["spmLver"]  # a new election
        assert ok(other.getImagesList(sd))["imageslist"] == [img]
        snap = new_uuid()
        status = wait_task(other, ok(other.createVolume(
            sd, sp, img, 8 * MiB, COW, SPARSE, "DATA", snap, "by the second SPM",
            img, base))["uuid"])
        assert status["taskResult"] == "success"
        assert ok(spm.getVolumeInfo(sd, sp, img, snap))["info"]["parent"] == base
        assert spm.createVolume(sd, sp, new_uuid(), MiB, RAW, SPARSE, "DATA",
                                new_uuid(), "x")["status"]["code"] == NOT_SPM
        info = ok(spm.getStorageDomainInfo(sd))["info"]
        assert info["spm_id"] == other_id and info["lver"] == second["spmLver"]

        ok(other.spmStop(sp))
        in_parallel(lambda: ok(pa.disconnectStoragePool(sp, 1, "")),
                    lambda: ok(pb.disconnectStoragePool(sp, 2, "")))
        for p in (pa, pb):
            ok(p.disconnectStorageServer(6, BLANK, [con]))
