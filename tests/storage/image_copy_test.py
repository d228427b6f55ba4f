"""Copy between domains through a real agent (vdsm/storage/image_copy.py).

One agent and one pool for the module: domain A (the master) and domain B,
each a loop ext4. A three-layer image (RAW base, two COW layers, different
data written in each with qemu-io) is cloned to B (empty ILLEGAL volumes,
same chain) and synced (INTERNAL, then LEAF, then ALL again): B's leaf
reads what A's reads (qemu-img compare) and the metadata agrees. A sync
killed mid-copy (vdsmd SIGKILLed; or only its qemu-img child) leaves no
half volume LEGAL, and the retry completes. moveMultipleImages moves two
images (sources gone, copies LEGAL and equal). Wrong calls answer the
classic codes. Slow copies: a qemu-img wrapper early on vdsmd's PATH
rate-limits ``convert`` while a marker file exists (as helper_death_test);
those images carry 8 MiB per layer, as qemu-img writes 2 MiB at a time and
throttles between requests.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    code,
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
from vdsm.common import commands

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, SPARSE = 5, 4, 2
SIZE = 64 * MiB

WRAPPER = """#!/bin/sh
# qemu-img; while {pidfile}.slow exists, "convert" is rate-limited to
# 512 KiB/s and leaves its pid in {pidfile}
if [ "$1" = convert ] && [ -e {pidfile}.slow ]; then
    shift
    echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}
    exec /usr/bin/qemu-img convert -r 512K "$@"
fi
exec /usr/bin/qemu-img "$@"
"""


@pytest.fixture(scope="module")
def env():
    """The agent (with the slow-convert wrapper) and a pool of domains A
    (master) and B; stopped by pid at the end."""
    ensure_vdsm_user()
    host = StorageHost()
    bin_dir = os.path.join(host.root.root, "slow-bin")
    os.makedirs(bin_dir)
    os.chmod(bin_dir, 0o755)
    host.pidfile = os.path.join(host.root.root, "convert.pid")
    wrapper = os.path.join(bin_dir, "qemu-img")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(pidfile=host.pidfile))
    os.chmod(wrapper, 0o755)
    os.chmod(host.root.root, 0o777)  # the wrapper (as vdsm) writes its pid there
    host.root.extra_env["PATH"] = bin_dir + ":" + os.environ.get("PATH",
                                                                 "/usr/bin:/bin")
    host.start()
    try:
        with loop_ext4(256) as dev_a, loop_ext4(256) as dev_b:
            p = host.proxy()
            names = create_pool(p, dev_a)
            con_b = posix_connection(dev_b)
            ok(p.connectStorageServer(6, BLANK, [con_b]))
            sd_b = new_uuid()
            ok(p.createStorageDomain(6, sd_b, "domain B", dev_b, 1))
            ok(p.attachStorageDomain(sd_b, names["sp"]))
            ok(p.activateStorageDomain(sd_b, names["sp"]))
            names.update(host=host, a=names["sd"], b=sd_b, con_b=con_b)
            try:
                yield names
            finally:
                _teardown(host, names)
    finally:
        host.stop()


def _teardown(host: StorageHost, names: dict) -> None:
    p = host.proxy()
    sp = names["sp"]
    p.deactivateStorageDomain(names["b"], sp, names["a"], 1)
    p.spmStop(sp)
    p.disconnectStoragePool(sp, 1, "")
    p.disconnectStorageServer(6, BLANK, [names["con"], names["con_b"]])


def run_task(p, answer, timeout: float = 90) -> dict:
    status = wait_task(p, ok(answer)["uuid"], timeout)
    assert status["taskResult"] == "success", status
    return status


def qemu_io(path: str, fmt: str, command: str) -> None:
    commands.run(["qemu-io", "-f", fmt, "-c", command, path], timeout=60)


def path_of(p, sd, sp, img, vol) -> str:
    return ok(p.getVolumePath(sd, sp, img, vol))["path"]


def three_layers(p, sd, sp, *, data_mib: int = 4) -> tuple[str, list[str]]:
    """An image: RAW base, two COW layers, each written a different pattern
    at a different offset. Returns (image, [base, mid, leaf])."""
    img, vols = new_uuid(), [new_uuid() for _ in range(3)]
    run_task(p, p.createVolume(sd, sp, img, SIZE, RAW, SPARSE, "DATA", vols[0],
                               "base"))
    run_task(p, p.createVolume(sd, sp, img, SIZE, COW, SPARSE, "DATA", vols[1],
                               "mid", img, vols[0]))
    run_task(p, p.createVolume(sd, sp, img, SIZE, COW, SPARSE, "DATA", vols[2],
                               "leaf", img, vols[1]))
    # written bottom-up through each volume's own file: the base raw, the
    # layers as qcow2 (qemu-io opens their backing chain read-only)
    for i, (vol, fmt) in enumerate(zip(vols, ("raw", "qcow2", "qcow2"), strict=True)):
        qemu_io(path_of(p, sd, sp, img, vol), fmt,
                f"write -P {0x11 * (i + 1)} {i * 3}M {data_mib}M")
    return img, vols


def same(first: str, second: str) -> bool:
    result = commands.run(["qemu-img", "compare", "-U", first, second],
                          timeout=120, check=False)
    assert result.rc in (0, 1), result.err
    return result.rc == 0


def info(p, sd, sp, img, vol) -> dict:
    return ok(p.getVolumeInfo(sd, sp, img, vol))["info"]


CHAIN_KEYS = ("parent", "format", "voltype", "capacity", "type", "disktype")


def assert_whole_or_illegal(p, names, img, vols) -> None:
    """No volume on B is LEGAL unless it reads as its source does."""
    a, b, sp = names["a"], names["b"], names["sp"]
    answer = p.getVolumesList(b, sp, img)
    present = answer.get("uuidlist", []) if code(answer) == 0 else []
    for vol in present:
        if info(p, b, sp, img, vol)["legality"] == "LEGAL":
            assert same(path_of(p, a, sp, img, vol), path_of(p, b, sp, img, vol)), vol


def test_clone_structure_then_sync_copies_a_three_layer_image(env):
    p = env["host"].proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    img, vols = three_layers(p, a, sp)

    run_task(p, p.cloneImageStructure(sp, a, img, b))
    assert sorted(ok(p.getVolumesList(b, sp, img))["uuidlist"]) == sorted(vols)
    for vol in vols:
        src, dst = info(p, a, sp, img, vol), info(p, b, sp, img, vol)
        assert {k: dst[k] for k in CHAIN_KEYS} == {k: src[k] for k in CHAIN_KEYS}
        assert dst["legality"] == "ILLEGAL"   # empty until synced

    run_task(p, p.syncImageData(sp, a, img, b, "INTERNAL"))
    assert [info(p, b, sp, img, v)["legality"] for v in vols] == [
        "LEGAL", "LEGAL", "ILLEGAL"]
    assert same(path_of(p, a, sp, img, vols[1]), path_of(p, b, sp, img, vols[1]))
    run_task(p, p.syncImageData(sp, a, img, b, "LEAF"))
    run_task(p, p.syncImageData(sp, a, img, b, "ALL"))  # again: still the same

    leaf_a, leaf_b = path_of(p, a, sp, img, vols[2]), path_of(p, b, sp, img, vols[2])
    assert same(leaf_a, leaf_b)
    for i, vol in enumerate(vols):
        src, dst = info(p, a, sp, img, vol), info(p, b, sp, img, vol)
        assert {k: dst[k] for k in (*CHAIN_KEYS, "legality")} == \
            {k: src[k] for k in (*CHAIN_KEYS, "legality")}
        if i:  # each layer kept its own data only: a chain, not a collapse
            chain = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                                    path_of(p, b, sp, img, vol)],
                                   capture_output=True, text=True, timeout=30)
            assert f'"backing-filename": "{vols[i - 1]}"' in chain.stdout
    # the layers differ from each other, so an equal leaf means every layer came
    assert not same(path_of(p, a, sp, img, vols[1]), leaf_a)
    run_task(p, p.deleteImage(b, sp, img))
    run_task(p, p.deleteImage(a, sp, img))


def test_wrong_calls_answer_the_classic_codes(env):
    p = env["host"].proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    unknown = new_uuid()
    assert code(p.cloneImageStructure(sp, a, unknown, b)) == 268
    assert code(p.syncImageData(sp, a, unknown, b, "ALL")) == 268
    assert code(p.moveImage(sp, a, b, unknown, "", 2)) == 268
    assert code(p.moveMultipleImages(sp, a, b, {unknown: False}, "")) == 268
    img, vol = new_uuid(), new_uuid()
    run_task(p, p.createVolume(a, sp, img, 16 * MiB, RAW, SPARSE, "DATA", vol, "x"))
    assert code(p.cloneImageStructure(sp, a, img, a)) == 1000
    assert code(p.syncImageData(sp, a, img, a, "ALL")) == 1000
    assert code(p.moveImage(sp, a, a, img, "", 2)) == 1000
    assert code(p.moveMultipleImages(sp, a, a, {img: False}, "")) == 1000
    assert code(p.syncImageData(sp, a, img, b, "SOME")) == 2000
    # a sync with no cloned structure on B: the task fails, B untouched
    status = wait_task(p, ok(p.syncImageData(sp, a, img, b, "ALL"))["uuid"])
    assert (status["taskResult"], status["code"]) == ("cleanSuccess", 260), status
    # cloned twice: the second finds the image on B and changes nothing
    run_task(p, p.cloneImageStructure(sp, a, img, b))
    status = wait_task(p, ok(p.cloneImageStructure(sp, a, img, b))["uuid"])
    assert status["code"] == 260, status
    assert ok(p.getVolumesList(b, sp, img))["uuidlist"] == [vol]
    run_task(p, p.deleteImage(b, sp, img))
    run_task(p, p.deleteImage(a, sp, img))


def _slow(host: StorageHost) -> None:
    if os.path.exists(host.pidfile):
        os.unlink(host.pidfile)
    open(host.pidfile + ".slow", "w").close()


def _fast(host: StorageHost) -> None:
    os.unlink(host.pidfile + ".slow")


def _progress(p, task_id: str) -> int | None:
    return ok(p.getTaskInfo(task_id))["TaskInfo"].get("progress")


def test_sync_killed_with_the_agent_leaves_nothing_legal_and_the_retry_completes(
        env):
    host = env["host"]
    p = host.proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    img, vols = three_layers(p, a, sp, data_mib=8)
    run_task(p, p.cloneImageStructure(sp, a, img, b))
    _slow(host)
    try:
        task_id = ok(p.syncImageData(sp, a, img, b, "ALL"))["uuid"]
        # progress in the task info while the copy runs (first layer: 8 MiB
        # at 512 KiB/s, in 2 MiB requests: seconds)
        wait_for(lambda: (_progress(p, task_id) or 0) > 0, 30, "copy progress")
        assert _progress(p, task_id) < 100
        vdsmd = host.root.procs.pop("vdsmd")
        os.kill(vdsmd.pid, signal.SIGKILL)
        vdsmd.wait(10)
    finally:
        _fast(host)
    host.root.start_vdsmd()
    p = host.proxy()
    ok(p.connectStoragePool(sp, 1, "", a, 1))
    become_spm(p, sp)
    status = wait_task(p, task_id, 30)
    assert status["taskState"] == "finished", status
    assert info(p, b, sp, img, vols[0])["legality"] == "ILLEGAL"  # cut mid-copy
    assert_whole_or_illegal(p, env, img, vols)
    ok(p.clearTask(task_id))

    run_task(p, p.syncImageData(sp, a, img, b, "ALL"))
    assert [info(p, b, sp, img, v)["legality"] for v in vols] == ["LEGAL"] * 3
    assert same(path_of(p, a, sp, img, vols[2]), path_of(p, b, sp, img, vols[2]))
    run_task(p, p.deleteImage(b, sp, img))
    run_task(p, p.deleteImage(a, sp, img))


def test_sync_whose_qemu_img_is_killed_fails_illegal_and_the_retry_completes(env):
    host = env["host"]
    p = host.proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    img, vols = three_layers(p, a, sp, data_mib=8)
    run_task(p, p.cloneImageStructure(sp, a, img, b))
    run_task(p, p.syncImageData(sp, a, img, b, "INTERNAL"))
    _slow(host)
    try:
        task_id = ok(p.syncImageData(sp, a, img, b, "LEAF"))["uuid"]
        wait_for(lambda: os.path.exists(host.pidfile), 30, "qemu-img convert")
        with open(host.pidfile) as f:
            os.kill(int(f.read()), signal.SIGKILL)
    finally:
        _fast(host)
    status = wait_task(p, task_id, 30)
    # failed (261, the copy) and rolled back
    assert (status["taskResult"], status["code"]) == ("cleanSuccess", 261), status
    assert info(p, b, sp, img, vols[2])["legality"] == "ILLEGAL"
    assert_whole_or_illegal(p, env, img, vols)

    run_task(p, p.syncImageData(sp, a, img, b, "LEAF"))
    assert same(path_of(p, a, sp, img, vols[2]), path_of(p, b, sp, img, vols[2]))
    run_task(p, p.deleteImage(b, sp, img))
    run_task(p, p.deleteImage(a, sp, img))


def test_move_multiple_images_moves_both_and_removes_the_sources(env, tmp_path):
    p = env["host"].proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    images = [three_layers(p, a, sp, data_mib=2) for _ in range(2)]
    expected = {}
    for img, vols in images:   # what each image reads, kept outside the pool
        expected[img] = str(tmp_path / img)
        commands.run(["qemu-img", "convert", "-U", "-O", "raw",
                      path_of(p, a, sp, img, vols[2]), expected[img]], timeout=60)
    run_task(p, p.moveMultipleImages(sp, a, b, {img: False for img, _ in images},
                                     ""))
    listed_a = ok(p.getImagesList(a))["imageslist"]
    for img, vols in images:
        assert img not in listed_a
        assert [info(p, b, sp, img, v)["legality"] for v in vols] == ["LEGAL"] * 3
        assert same(expected[img], path_of(p, b, sp, img, vols[2]))
    # moveImage (op 2) back: the same copy path, one image
    img, vols = images[0]
    run_task(p, p.moveImage(sp, b, a, img, "", 2))
    assert img not in ok(p.getImagesList(b))["imageslist"]
    assert same(expected[img], path_of(p, a, sp, img, vols[2]))
    run_task(p, p.deleteImage(a, sp, img))
    run_task(p, p.deleteImage(b, sp, images[1][0]))


def test_a_move_stopped_mid_copy_leaves_the_source_and_no_copy(env):
    host = env["host"]
    p = host.proxy()
    a, b, sp = env["a"], env["b"], env["sp"]
    img, vols = three_layers(p, a, sp, data_mib=8)
    _slow(host)
    try:
        task_id = ok(p.moveMultipleImages(sp, a, b, {img: False}, ""))["uuid"]
        wait_for(lambda: os.path.exists(host.pidfile), 30, "qemu-img convert")
        ok(p.stopTask(task_id))
    finally:
        _fast(host)
    status = wait_task(p, task_id, 30)
    assert status["taskResult"] == "cleanSuccess", status  # rolled back
    assert img not in ok(p.getImagesList(b))["imageslist"]
    assert [info(p, a, sp, img, v)["legality"] for v in vols] == ["LEGAL"] * 3
    ok(p.clearTask(task_id))
    run_task(p, p.deleteImage(a, sp, img))
