"""Block storage benchmark parts that need no agent: the mailbox round trip
and LVM metadata operations, on a real VG over loop devices.

Used by benchmarks/block_storage.py (see its docstring for what is
measured and the goals).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator

from tests.storage import lvfiles
from tests.storage.lvmhelpers import loop_devices, vg_names
from vdsm.common import commands
from vdsm.storage import lvm_cmd
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.storage.spm import mailbox_format as fmt
from vdsm.storage.spm.mailbox import ExtendResult, HostMailbox
from vdsm.storage.spm.mailbox_spm import SpmMailbox

MiB = 1024 * 1024
EXTENT = 128 * MiB


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@contextlib.contextmanager
def vg_with_files(size_mb: int = 8192) -> Iterator[tuple[LVM, str, lvfiles.LVFiles]]:
    """A VG on a loop device with inbox/outbox LVs, its LVs served as files
    that follow the VG (as refreshed LVs on a real host)."""
    with loop_devices(1, size_mb) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices)
        for name in ("inbox", "outbox"):
            lvm.lvcreate(vg, name, EXTENT)
        mount = tempfile.mkdtemp(prefix="vdsm-bench-lvs-")
        files = lvfiles.LVFiles(devices, vg, os.path.join(mount, vg), follow=True)
        files.start()
        try:
            for name in ("inbox", "outbox"):
                with open(files.path(name), "r+b") as f:
                    f.write(b"\0" * fmt.MAILBOX_SIZE * 256)
            yield lvm, vg, files
        finally:
            files.stop()
            shutil.rmtree(mount)


def _size(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def mailbox_round_trips(poll: float, count: int,
                        events: float = 0.0) -> dict[str, float]:
    """Request -> the SPM's lvextend -> answer -> this host sees the LV grow.

    One volume, extended ``count`` times by one extent, one request at a
    time (a VM's drive has one extension in flight)."""
    with vg_with_files(max(8192, (count + 8) * EXTENT // MiB)) as (lvm, vg, files):
        vol = str(uuid.uuid4())
        lvm.lvcreate(vg, vol, EXTENT)
        deadline = time.monotonic() + 10
        while not os.path.exists(files.path(vol)) and time.monotonic() < deadline:
            time.sleep(0.05)
        ops = LocalFileOps()
        sd = str(uuid.uuid4())

        def handler(host_id: int, request: fmt.ExtendMessage) -> int:
            current = lvm.lv(vg, request.vol_uuid).size
            if current < request.size:
                lvm.lvextend(vg, request.vol_uuid, request.size)
            return lvm.lv(vg, request.vol_uuid).size

        spm = SpmMailbox(files.path("inbox"), files.path("outbox"), ops, handler,
                         poll_interval=poll, event_interval=events)
        host = HostMailbox(2, files.path("inbox"), files.path("outbox"), ops,
                           poll_interval=poll, reply_timeout=max(30.0, 20 * poll),
                           event_interval=events)
        spm.start()
        host.start()
        times = []
        try:
            for i in range(count):
                target = (i + 2) * EXTENT
                done = threading.Event()
                answer: list[ExtendResult] = []

                def callback(result: ExtendResult, target: int = target,
                             answer: list = answer,
                             done: threading.Event = done) -> None:
                    # This host's refresh: wait until the LV shows the size.
                    deadline = time.monotonic() + 10
                    while result.ok and _size(files.path(vol)) < target:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.005)
                    answer.append(result)
                    done.set()

                start = time.monotonic()
                host.request_extend(sd, str(uuid.uuid4()), vol, target, callback)
                if not done.wait(60) or not answer[0].ok:
                    raise RuntimeError(f"extension {i} failed: {answer}")
                times.append(time.monotonic() - start)
        finally:
            host.stop()
            spm.stop()
    return {"poll_s": poll, "events_s": events, "count": count,
            "p50_s": statistics.median(times),
            "p99_s": percentile(times, 99), "max_s": max(times)}


def lvm_operations(count: int) -> dict[str, float]:
    """lvcreate + lvextend + lvs + lvremove through the LVM object (command
    building, filter, report parsing, cache) beside the bare commands."""
    with loop_devices(1, 8192 + count * 256) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices)
        names = [str(uuid.uuid4()) for _ in range(count)]
        start = time.monotonic()
        for name in names:
            lvm.lvcreate(vg, name, EXTENT, tags=["IU_bench"])
            lvm.lvextend(vg, name, 2 * EXTENT)
            lvm.lvs(vg)
        for name in names:
            lvm.lvremove(vg, name)
        ours = time.monotonic() - start
        config = lvm_cmd.config(devices, activation=False)
        bare = ["lvm", "--config", config]
        start = time.monotonic()
        for name in names:
            commands.run([*bare[:1], "lvcreate", *bare[1:], "-an", "-Zn", "-n", name,
                          "-L", f"{EXTENT // MiB}m", "--addtag", "IU_bench", vg],
                         timeout=60)
            commands.run([*bare[:1], "lvextend", *bare[1:], "-L",
                          f"{2 * EXTENT // MiB}m", f"{vg}/{name}"], timeout=60)
            commands.run([*bare[:1], "lvs", *bare[1:], "--reportformat", "json", vg],
                         timeout=60)
        for name in names:
            commands.run([*bare[:1], "lvremove", *bare[1:], "-f", f"{vg}/{name}"],
                         timeout=60)
        plain = time.monotonic() - start
    ops = 4 * count
    return {"count": count, "agent_ops_s": ops / ours, "bare_ops_s": ops / plain,
            "ratio": plain / ours}
