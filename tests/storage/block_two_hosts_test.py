"""Two hosts share one block domain as their pool's master (issue 11).

Host A (id 1) and host B (id 2) are two StorageHosts (each its own
sanlock, supervdsmd and vdsmd) over the same loop-device VG. Each sees
the LVs through its own lvfiles mount in follow mode at its ``[irs]
lv_dir`` (no device-mapper here). A creates the domain and the pool and
is SPM; B reads A's changes, prepares a volume, is refused metadata
changes, and grows a thin volume through the pool mailbox. B's vdsmd is
``tests.storage.extension_vdsmd``: the test asks B for extensions inside
B's process through the storage service's request_volume_extension, the
call the VM volume monitor makes.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage import lvfiles
from tests.storage.blockdevs_test import guid_of, luns
from tests.storage.extension_vdsmd import request_extension
from tests.storage.helpers import (
    StorageHost,
    become_spm,
    code,
    merged,
    new_uuid,
    ok,
    wait_task,
)
from tests.storage.lvmhelpers import forget_archives, need_lvm
from tests.storage.two_hosts_test import in_parallel
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = need_lvm
MiB = 1024 * 1024
GiB = 1024 * MiB          # XML-RPC ints stop below 2 GiB
LUN_MB = 6 * 1024
ISCSI, DATA = 3, 1
RAW, COW, PREALLOCATED, SPARSE = 5, 4, 1, 2
NOT_SPM = 654
CHUNK = 128 * MiB            # one extent of the VG: each request one more
POLL = 0.5                   # [irs] mailbox_poll_interval: reply timeout 15 s


@contextlib.contextmanager
def block_hosts(overrides: dict[tuple[str, str], Any] | None = None
                ) -> Iterator[list[tuple[StorageHost, str]]]:
    """[(host, its lv_dir)] for host ids 1 and 2 (``overrides`` on top of
    this module's settings); stopped afterwards."""
    ensure_vdsm_user()
    started: list[tuple[StorageHost, str]] = []
    try:
        for _ in range(2):
            lv_dir = tempfile.mkdtemp(prefix="vdsm-lvdir-", dir="/var/tmp")
            os.chmod(lv_dir, 0o755)
            host = StorageHost({("irs", "list_loop_devices"): True,
                                ("irs", "lv_dir"): lv_dir,
                                ("irs", "lv_activation"): False,
                                ("irs", "mailbox_poll_interval"): POLL,
                                ("irs", "mailbox_event_interval"): 0.1,
                                ("irs", "volume_utilization_chunk_mb"): CHUNK // MiB,
                                **(overrides or {})},
                               vdsmd_module="tests.storage.extension_vdsmd")
            started.append((host, lv_dir))
            host.start()
        yield started
    finally:
        for host, lv_dir in started:
            host.stop()
            shutil.rmtree(lv_dir, ignore_errors=True)


@pytest.fixture
def hosts() -> Iterator[list[tuple[StorageHost, str]]]:
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    if shutil.which("sanlock") is None:
        pytest.skip("needs the sanlock package (scripts/install-deps.sh)")
    with block_hosts() as started:
        yield started


@contextlib.contextmanager
def shared_pool(hosts: list[tuple[StorageHost, str]]) -> Iterator[dict[str, Any]]:
    """A block domain made by A (createVG, createStorageDomain 3), the
    pool's master; both hosts connected with their LVs served; A is SPM."""
    (a, a_dir), (b, b_dir) = hosts
    pa, pb = a.proxy(), b.proxy()
    sd, sp = new_uuid(), new_uuid()
    vdsm = pwd.getpwnam("vdsm")
    with luns(LUN_MB, LUN_MB) as nodes, contextlib.ExitStack() as stack:
        stack.callback(forget_archives, sd)
        vg_uuid = ok(pa.createVG(sd, [guid_of(n) for n in nodes], False))["uuid"]
        files = [stack.enter_context(lvfiles.LVFiles(
            nodes, sd, os.path.join(lv_dir, sd), follow=True,
            owner=(vdsm.pw_uid, vdsm.pw_gid))) for lv_dir in (a_dir, b_dir)]
        ok(pa.createStorageDomain(ISCSI, sd, "shared block", vg_uuid, DATA, 5))
        ok(pa.createStoragePool(0, sp, "two hosts block", sd, [sd], 1))
        in_parallel(lambda: ok(a.proxy().connectStoragePool(sp, 1, "", sd, 1)),
                    lambda: ok(b.proxy().connectStoragePool(sp, 2, "", sd, 1)))
        try:
            become_spm(pa, sp, 90)
            yield {"sd": sd, "sp": sp, "a": pa, "b": pb, "files": files,
                   "b_run": b.config.run_dir}
        finally:
            for p in (pa, pb):
                p.spmStop(sp)
            in_parallel(lambda: a.proxy().disconnectStoragePool(sp, 1, ""),
                        lambda: b.proxy().disconnectStoragePool(sp, 2, ""))


def create_volume(spm: Any, sd: str, sp: str, img: str, vol: str, *, fmt: int,
                  alloc: int, size: int, description: str) -> None:
    task = ok(spm.createVolume(sd, sp, img, size, fmt, alloc, "DATA", vol,
                               description))["uuid"]
    status = wait_task(spm, task, 90)
    assert status["taskResult"] == "success", status


def lv_size(files: lvfiles.LVFiles, vol: str) -> int:
    return os.path.getsize(files.path(vol))


def extended_sizes(host: StorageHost, sd: str, vol: str) -> list[int]:
    """The sizes the SPM's "extended <sd>/<vol> to N bytes" lines name."""
    pattern = re.compile(rf"extended {sd}/{vol} to (\d+) bytes")
    with open(os.path.join(host.root.root, "vdsmd.out")) as f:   # all of it
        return [int(m.group(1)) for m in pattern.finditer(f.read())]


def test_host_b_sees_prepares_and_extends_what_the_spm_made(hosts):
    (a, _), (b, _) = hosts
    with shared_pool(hosts) as pool:
        sd, sp, pa, pb = pool["sd"], pool["sp"], pool["a"], pool["b"]
        b_files = pool["files"][1]
        # B reads the domain before A changes it (its LVM reports cached)
        assert ok(pb.getImagesList(sd))["imageslist"] == []
        img, vol = new_uuid(), new_uuid()
        create_volume(pa, sd, sp, img, vol, fmt=COW, alloc=SPARSE, size=GiB,
                      description="thin, by the SPM")
        raw_img, raw = new_uuid(), new_uuid()
        create_volume(pa, sd, sp, raw_img, raw, fmt=RAW, alloc=PREALLOCATED,
                      size=256 * MiB, description="preallocated")

        # B sees the SPM's LVM changes at once, not a refresh interval later
        assert sorted(ok(pb.getImagesList(sd))["imageslist"]) == sorted([img, raw_img])
        assert ok(pb.getVolumesList(sd, sp, img))["uuidlist"] == [vol]
        info = ok(pb.getVolumeInfo(sd, sp, img, vol))["info"]
        assert info["description"] == "thin, by the SPM"
        assert info["format"] == "COW" and info["legality"] == "LEGAL"

        # B prepares the thin volume: its own LV path, the qcow2 readable
        prepared = merged(ok(pb.prepareImage(sp, sd, img, vol)))
        path = prepared["path"]
        assert os.path.samefile(path, b_files.path(vol)), path
        with open(path, "rb") as f:
            assert f.read(4) == b"QFI\xfb"
        ok(pb.teardownImage(sp, sd, img, vol))

        # B changes no metadata: "Not SPM"
        assert code(pb.createVolume(sd, sp, new_uuid(), MiB, RAW, SPARSE, "DATA",
                                    new_uuid(), "x")) == NOT_SPM
        assert code(pb.deleteVolume(sd, sp, raw_img, [raw], False, False)) == NOT_SPM

        # the pool mailbox: B asks for one more chunk; A's SPM grows the LV;
        # B's callback runs once B sees the bigger LV
        first = lv_size(b_files, vol)
        answer = request_extension(pool["b_run"], sd, sp, img, vol, first + CHUNK)
        assert answer["error"] is None, answer
        assert answer["size"] == first + CHUNK
        assert lv_size(b_files, vol) == first + CHUNK
        assert extended_sizes(a, sd, vol) == [first + CHUNK]
        assert extended_sizes(b, sd, vol) == []
        print(f"mailbox round trip (request to B seeing the LV): "
              f"{answer['seconds']:.2f} s")

        # A removes a volume: B no longer lists it
        task = ok(pa.deleteVolume(sd, sp, raw_img, [raw], False, False))["uuid"]
        assert wait_task(pa, task, 90)["taskResult"] == "success"
        assert ok(pb.getImagesList(sd))["imageslist"] == [img]


def test_spm_moves_during_a_stream_of_extensions(hosts):
    """B keeps asking for one more chunk, one request in flight as the VM
    monitor does (a failed one asked again); A steps down and B becomes
    SPM mid-stream. No request is lost and none is applied twice."""
    (a, _), (b, _) = hosts
    with shared_pool(hosts) as pool:
        sd, sp, pa, pb = pool["sd"], pool["sp"], pool["a"], pool["b"]
        b_files = pool["files"][1]
        img, vol = new_uuid(), new_uuid()
        create_volume(pa, sd, sp, img, vol, fmt=COW, alloc=SPARSE, size=GiB,
                      description="stream")
        first = lv_size(b_files, vol)
        wanted = [first + k * CHUNK for k in range(1, 25)]
        answers: list[dict[str, Any]] = []
        retries: list[int] = []
        stop = threading.Event()

        def stream() -> None:
            for size in wanted:
                for _attempt in range(5):
                    if stop.is_set():
                        return
                    answer = request_extension(pool["b_run"], sd, sp, img, vol, size)
                    if answer["error"] is None:
                        answers.append(answer)
                        break
                    retries.append(size)
                    time.sleep(1)

        requester = threading.Thread(target=stream, name="requester")
        requester.start()
        try:
            deadline = time.monotonic() + 60
            while len(answers) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(answers) >= 6, answers
            ok(pa.spmStop(sp))                      # mid-stream
            moved_at, stopped = len(answers), time.monotonic()
            become_spm(pb, sp, 90)
            no_spm = time.monotonic() - stopped
            requester.join(300)
            assert not requester.is_alive()
        finally:
            stop.set()
            requester.join(30)

        assert [x["size"] for x in answers] == wanted, (answers, retries)
        assert lv_size(b_files, vol) == wanted[-1]      # not more
        by_a, by_b = extended_sizes(a, sd, vol), extended_sizes(b, sd, vol)
        assert by_a and by_b, (by_a, by_b)              # both SPMs served
        applied = by_a + by_b
        assert applied == wanted, (by_a, by_b)          # each once, in order
        seconds = sorted(x["seconds"] for x in answers)
        print(f"{len(answers)} extensions, SPM moved after {moved_at} "
              f"(no SPM for {no_spm:.2f} s), "
              f"{len(retries)} asked again; by A {len(by_a)}, by B {len(by_b)}; "
              f"round trip p50 {seconds[len(seconds) // 2]:.2f} s, "
              f"max {seconds[-1]:.2f} s")
