"""Cold merge (mergeSnapshots, vdsm/storage/coldmerge.py) on a real file
domain: a 3-volume chain whose layers hold different data, the middle one
merged into the leaf; kill -9 of vdsmd at each write step (the crash
tests' pause point), then the image is checked usable (prepareImage,
qemu-img check, the same data as before) and a retry completes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Iterator

import pytest

from tests.storage.crash_points_test import kill_at, restart
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
def host() -> Iterator[StorageHost]:
    ensure_vdsm_user()
    pause_dir = tempfile.mkdtemp(prefix="vdsm-pause-", dir="/var/tmp")
    os.chmod(pause_dir, 0o777)  # vdsmd (as vdsm) writes <file>.reached
    pause_file = os.path.join(pause_dir, "pause")
    h = StorageHost({("irs", "test_pause_file"): pause_file})
    h.pause_file = pause_file   # type: ignore[attr-defined]
    h.start()
    try:
        yield h
    finally:
        h.stop()
        shutil.rmtree(pause_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pool(host: StorageHost) -> Iterator[dict[str, Any]]:
    with loop_ext4(256) as device:
        names = create_pool(host.proxy(), device)
        try:
            yield names
        finally:
            p = host.proxy()
            ok(p.spmStop(names["sp"]))
            ok(p.disconnectStoragePool(names["sp"], 1, ""))
            ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))


class Image:
    """base <- mid <- top, each layer with its own 1 MiB at its own offset
    (and mid overwriting part of base's); ``expected`` is the raw view."""

    def __init__(self, host: StorageHost, pool: dict[str, Any], tmp: str) -> None:
        self.host, self.sd, self.sp = host, pool["sd"], pool["sp"]
        self.img = new_uuid()
        self.vols: list[str] = []
        for i, fmt in enumerate((RAW, COW, COW)):
            vol = new_uuid()
            parent = (self.img, self.vols[-1]) if self.vols else ()
            p = host.proxy()
            task = ok(p.createVolume(self.sd, self.sp, self.img, 16 * MiB, fmt,
                                     SPARSE, "DATA", vol, "cold", *parent))["uuid"]
            assert wait_task(p, task)["taskResult"] == "success"
            self.vols.append(vol)
            fmt_name = "raw" if fmt == RAW else "qcow2"
            _run(["qemu-io", "-f", fmt_name, "-c",
                  f"write -P {0x11 * (i + 1)} {i * 2}M 2M", self.path(vol)])
        self.expected = os.path.join(tmp, f"{self.img}.raw")
        _run(["qemu-img", "convert", "-O", "raw", self.path(self.vols[-1]),
              self.expected])

    def path(self, vol: str) -> str:
        return ok(self.host.proxy().getVolumePath(self.sd, self.sp, self.img,
                                                  vol))["path"]

    def merge(self, p: Any, ancestor: str, successor: str) -> str:
        return ok(p.mergeSnapshots(self.sd, self.sp, "", self.img, ancestor,
                                   successor, False))["uuid"]

    def info(self, p: Any, vol: str) -> dict[str, Any]:
        return ok(p.getVolumeInfo(self.sd, self.sp, self.img, vol))["info"]

    def volumes(self, p: Any) -> list[str]:
        return ok(p.getVolumesList(self.sd, self.sp, self.img))["uuidlist"]

    def check_usable(self, p: Any) -> None:
        """prepareImage works, qemu-img check is clean, the data unchanged."""
        top = self.vols[-1]
        ok(p.prepareImage(self.sp, self.sd, self.img, top))
        path = self.path(top)
        assert qemuimg.check(path, fmt="qcow2").get("check-errors", 0) == 0
        _run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", self.expected,
              path])
        ok(p.teardownImage(self.sp, self.sd, self.img, top))


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, (argv, res.stdout, res.stderr)


def check_merged(image: Image, p: Any) -> None:
    base, mid, top = image.vols
    assert sorted(image.volumes(p)) == sorted([base, top])
    info = image.info(p, top)
    assert (info["parent"], info["legality"], info["voltype"]) == \
        (base, "LEGAL", "LEAF"), info
    chain = qemuimg.info(image.path(top), backing_chain=True)
    assert [os.path.basename(i["filename"]) for i in chain] == [top, base]
    image.check_usable(p)


def test_merge_of_an_internal_snapshot_into_the_leaf(host, pool, tmp_path):
    image = Image(host, pool, str(tmp_path))
    p = host.proxy()
    assert wait_task(p, image.merge(p, image.vols[1], image.vols[2]))[
        "taskResult"] == "success"
    check_merged(image, p)
    # a retry after the end changes nothing and succeeds
    assert wait_task(p, image.merge(p, image.vols[1], image.vols[2]))[
        "taskResult"] == "success"
    check_merged(image, p)


def test_merge_down_to_the_base_and_a_refused_direction(host, pool, tmp_path):
    image = Image(host, pool, str(tmp_path))
    base, mid, top = image.vols
    p = host.proxy()
    refused = wait_task(p, image.merge(p, top, mid))      # top is above mid
    assert refused["taskResult"] != "success" and refused["code"] == 252, refused
    assert image.volumes(p) and sorted(image.volumes(p)) == sorted(image.vols)
    assert wait_task(p, image.merge(p, base, mid))["taskResult"] == "success"
    assert sorted(image.volumes(p)) == sorted([mid, top])
    assert image.info(p, mid)["parent"] == BLANK
    assert "backing-filename" not in qemuimg.info(image.path(mid))
    image.check_usable(p)


# the n-th write of the job: 1 before the rebase, 2 before successor's
# metadata, 3 before mid is marked ILLEGAL, 4 before it is removed
@pytest.mark.parametrize("write", [1, 2, 3, 4])
def test_kill_at_each_step_then_retry(host, pool, tmp_path, write):
    image = Image(host, pool, str(tmp_path))
    p = host.proxy()
    kill_at(host, "write", write, lambda: image.merge(p, image.vols[1],
                                                      image.vols[2]))
    p = restart(host, pool)
    base, mid, top = image.vols
    backing = qemuimg.info(image.path(top)).get("backing-filename")
    # where the kill landed: (qemu's backing of top, top's metadata parent,
    # mid's legality)
    state = (backing, image.info(p, top)["parent"], image.info(p, mid)["legality"])
    assert state == {1: (mid, mid, "LEGAL"), 2: (base, mid, "LEGAL"),
                     3: (base, base, "LEGAL"), 4: (base, base, "ILLEGAL")}[write]
    image.check_usable(p)
    assert wait_task(p, image.merge(p, image.vols[1], image.vols[2]))[
        "taskResult"] == "success"
    check_merged(image, p)


def test_reconcile_volume_chain_follows_qemu(host, pool, tmp_path):
    """Image.reconcileVolumeChain (vdsm/storage/chainsync.py): a chain QEMU
    changed under the metadata (top rebased onto base, as a live merge of
    mid leaves it) is answered as qemu-img reads it and the metadata
    follows; an ILLEGAL leaf (an active-layer merge marked it before its
    pivot) is not part of the chain."""
    image = Image(host, pool, str(tmp_path))
    base, mid, top = image.vols
    p = host.proxy()
    _run(["qemu-img", "rebase", "-f", "qcow2", "-b", base, "-F", "raw",
          image.path(top)])
    answer = ok(p.reconcileVolumeChain(image.sp, image.sd, image.img, top))
    assert answer["volumes"] == [base, top]
    assert image.info(p, top)["parent"] == base
    assert image.info(p, mid)["legality"] == "ILLEGAL"
    image.check_usable(p)
    assert ok(p.reconcileVolumeChain(image.sp, image.sd, image.img, top))[
        "volumes"] == [base, top]                   # nothing more to change
    # the active layer merged into base, marked before the pivot
    ok(p.setVolumeLegality(image.sd, image.sp, image.img, top, "ILLEGAL"))
    answer = ok(p.reconcileVolumeChain(image.sp, image.sd, image.img, top))
    assert answer["volumes"] == [base]
    info = image.info(p, base)
    assert (info["voltype"], info["legality"]) == ("LEAF", "LEGAL"), info
    assert image.info(p, top)["voltype"] == "INTERNAL"
