"""kill -9 of vdsmd at a chosen step of each kind of SPM job, then restart.

The job is held at a named pause point (vdsm.storage.faults, the test-only
``[irs] test_pause_file``), so the kill lands at the same step every run:
after the new volume's metadata is written (createVolume), after the
parent became INTERNAL (snapshot), after every byte is copied but before
the copy is LEGAL (copyImage), between two volumes (deleteVolume), after
the SPM lease is taken (spmStart), after the master dir is made
(createStoragePool). After the restart: interrupted tasks are recovered
or rolled back, no volume is LEGAL without being whole, and the pool
takes a new createVolume.

(createVolume held inside qemu-img is crash_recovery_test; copyImage with
qemu-img running is helper_death_test.)
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    posix_connection,
    wait_for,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.storage import qemuimg

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, SPARSE, DATA = 5, 4, 2, 8


@pytest.fixture
def host():
    ensure_vdsm_user()
    pause_dir = tempfile.mkdtemp(prefix="vdsm-pause-", dir="/var/tmp")
    os.chmod(pause_dir, 0o777)  # vdsmd (as vdsm) writes <file>.reached
    pause_file = os.path.join(pause_dir, "pause")
    h = StorageHost({("irs", "test_pause_file"): pause_file})
    h.pause_file = pause_file
    h.start()
    try:
        yield h
    finally:
        if os.path.exists(pause_file):
            os.unlink(pause_file)
        h.stop()
        shutil.rmtree(pause_dir, ignore_errors=True)


def kill_at(host: StorageHost, step: str, n: int, trigger) -> object:
    """Run ``trigger`` with the pause at ``step`` #``n``; kill -9 vdsmd
    there; return what ``trigger`` returned (None for a call cut off)."""
    reached = host.pause_file + ".reached"
    with open(host.pause_file, "w") as f:
        f.write(f"{step} {n}\n")
    result: list[object] = [None]

    def call() -> None:
        try:
            result[0] = trigger()
        except OSError:  # a synchronous verb cut off by the kill
            pass
    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_for(lambda: os.path.exists(reached), 30, f"pause point {step} #{n}")
    caller.join(10)
    vdsmd = host.root.procs.pop("vdsmd")
    os.kill(vdsmd.pid, signal.SIGKILL)
    vdsmd.wait(10)
    os.unlink(host.pause_file)
    os.unlink(reached)
    caller.join(10)
    return result[0]


def restart(host: StorageHost, names: dict) -> object:
    host.root.start_vdsmd()
    p = host.proxy()
    ok(p.connectStoragePool(names["sp"], 1, "", names["sd"], 1))
    become_spm(p, names["sp"])
    return p


def assert_no_half_volume(p, sd: str, sp: str) -> None:
    """Every volume left is LEGAL and whole, or still ILLEGAL."""
    for image in ok(p.getImagesList(sd))["imageslist"]:
        for vol in ok(p.getVolumesList(sd, sp, image))["uuidlist"]:
            info = ok(p.getVolumeInfo(sd, sp, image, vol))["info"]
            if info["legality"] != "LEGAL":
                continue
            path = ok(p.getVolumePath(sd, sp, image, vol))["path"]
            fmt = "qcow2" if info["format"] == "COW" else "raw"
            assert qemuimg.info(path, fmt=fmt)["virtual-size"] == int(info["capacity"])


def assert_usable(p, sd: str, sp: str) -> None:
    img, vol = new_uuid(), new_uuid()
    status = wait_task(p, ok(p.createVolume(sd, sp, img, 16 * MiB, RAW, SPARSE,
                                            "DATA", vol, "after"))["uuid"])
    assert status["taskResult"] == "success", status


def new_volume(p, sd, sp, img, vol, parent=None, fmt=RAW) -> None:
    args = (img, parent) if parent else ()
    status = wait_task(p, ok(p.createVolume(sd, sp, img, 16 * MiB, fmt, SPARSE,
                                            "DATA", vol, "v", *args))["uuid"])
    assert status["taskResult"] == "success", status


def volumes(p, sd, sp, img) -> list[str]:
    answer = p.getVolumesList(sd, sp, img)
    return answer.get("uuidlist", []) if answer["status"]["code"] == 0 else []


def spm_job(kind: str, host: StorageHost, p, sd: str, sp: str):
    """Set up, kill in the middle of ``kind``; return a check to run after
    the restart, given the new proxy."""
    img, base, top = new_uuid(), new_uuid(), new_uuid()
    if kind == "create_volume":
        task = kill_at(host, "write", 2, lambda: ok(p.createVolume(
            sd, sp, img, 16 * MiB, RAW, SPARSE, "DATA", base, "cut"))["uuid"])

        def check(p2):
            assert wait_task(p2, task, 30)["taskResult"] == "cleanSuccess"
            assert volumes(p2, sd, sp, img) == []
        return check
    new_volume(p, sd, sp, img, base)
    if kind == "snapshot":
        task = kill_at(host, "write", 3, lambda: ok(p.createVolume(
            sd, sp, img, 16 * MiB, COW, SPARSE, "DATA", top, "cut", img,
            base))["uuid"])

        def check(p2):
            assert wait_task(p2, task, 30)["taskResult"] == "cleanSuccess"
            assert volumes(p2, sd, sp, img) == [base]
            info = ok(p2.getVolumeInfo(sd, sp, img, base))["info"]
            assert (info["voltype"], info["legality"]) == ("LEAF", "LEGAL")
        return check
    if kind == "copy":
        dst_img, dst_vol = new_uuid(), new_uuid()
        task = kill_at(host, "write", 2, lambda: ok(p.copyImage(
            sd, sp, "", img, base, dst_img, dst_vol, "cut", BLANK, DATA, RAW,
            SPARSE))["uuid"])

        def check(p2):
            assert wait_task(p2, task, 30)["taskResult"] == "cleanSuccess"
            assert volumes(p2, sd, sp, dst_img) == []
        return check
    if kind == "delete_volume":
        new_volume(p, sd, sp, img, top, parent=base, fmt=COW)
        task = kill_at(host, "write", 2, lambda: ok(p.deleteVolume(
            sd, sp, img, [top, base]))["uuid"])

        def check(p2):  # nothing to undo: the first volume is gone, the other whole
            assert wait_task(p2, task, 30)["taskState"] == "finished"
            assert volumes(p2, sd, sp, img) == [base]
            info = ok(p2.getVolumeInfo(sd, sp, img, base))["info"]
            assert (info["voltype"], info["legality"]) == ("LEAF", "LEGAL")
        return check
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["create_volume", "snapshot", "copy",
                                  "delete_volume"])
def test_kill_during_an_spm_job(host, kind):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device)
        sd, sp = names["sd"], names["sp"]
        check = spm_job(kind, host, p, sd, sp)
        p = restart(host, names)
        check(p)
        assert_no_half_volume(p, sd, sp)
        assert_usable(p, sd, sp)
        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))


def test_kill_during_spm_start(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device, start_spm=False)
        sd, sp = names["sd"], names["sp"]
        kill_at(host, "spm_start", 1, lambda: ok(p.spmStart(sp, -1, -1, -1, False)))
        p = restart(host, names)  # the dead holder's SPM lease is free again
        assert ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"] == "SPM"
        assert_usable(p, sd, sp)
        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))


def test_kill_during_create_storage_pool(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        con = posix_connection(device)
        ok(p.connectStorageServer(6, BLANK, [con]))
        sd, sp = new_uuid(), new_uuid()
        ok(p.createStorageDomain(6, sd, "master data", device, 1))
        kill_at(host, "create_pool", 1, lambda: host.proxy().createStoragePool(
            0, sp, "test pool", sd, [sd], 1))
        host.root.start_vdsmd()
        p = host.proxy()
        ok(p.connectStorageServer(6, BLANK, [con]))  # a new agent: connect again
        ok(p.createStoragePool(0, sp, "test pool", sd, [sd], 1))
        ok(p.connectStoragePool(sp, 1, "", sd, 1))
        become_spm(p, sp)
        assert_usable(p, sd, sp)
        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        ok(p.disconnectStorageServer(6, BLANK, [con]))
