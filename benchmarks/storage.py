"""Image repository benchmark: copyImage, createVolume and repoStats.

Runs a real host (vdsmd as the vdsm user, supervdsmd, a private sanlock
daemon) on a loop-backed ext4 mounted as a POSIX domain, and compares:

- copyImage of a 1 GiB image (full of data) with plain ``qemu-img convert``
  of the same file on the same file system (throughput ratio; goal >= 0.9);
- createVolume latency (call to task finished) with plain
  ``qemu-img create`` of the same kind of volume;
- repoStats latency with 20 monitored domains, beside ping.

Section ``ovf`` (OVF store, sparsify): benchmarks/storage_ovf.py.
Section ``transfer`` (downloadImage/uploadImage beside curl):
benchmarks/storage_transfer.py, run alone with ``--section transfer``.
Section ``block-transfer`` (downloadImage into a growing block volume
beside curl): benchmarks/storage_transfer_block.py.

    .venv/bin/python benchmarks/storage.py [--size-mb 1024] [--creates 10]
    .venv/bin/python benchmarks/storage.py --section copy   (copy between
        domains: benchmarks/storage_copy.py)
    .venv/bin/python benchmarks/storage.py --section trim   (sparsify of a
        running guest's volume: benchmarks/storage_trim.py)

Needs root and the sanlock package (see tests/storage/helpers.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.storage.helpers import (  # noqa: E402
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
)
from tests.supervdsm.helpers import ensure_vdsm_user  # noqa: E402
from vdsm.common import commands  # noqa: E402

MiB = 1024 * 1024
RAW, COW, PREALLOCATED, SPARSE = 5, 4, 1, 2


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def finish(proxy, task_id: str, timeout: float = 600, poll: float = 0.002,
           quiet: float = 0.0) -> float:
    """Wait for a task; return when it was seen finished (monotonic).

    Each poll is a TLS connection that competes with the job for the two
    CPUs, so a long job is left alone for ``quiet`` seconds (a little less
    than it can possibly take) and only then polled closely."""
    deadline = time.monotonic() + timeout
    time.sleep(quiet)
    while time.monotonic() < deadline:
        st = ok(proxy.getTaskStatus(task_id))["taskStatus"]
        if st["taskState"] == "finished":
            if st["taskResult"] != "success":
                raise RuntimeError(f"task failed: {st}")
            return time.monotonic()
        time.sleep(poll)
    raise TimeoutError(task_id)


def fill(path: str, size: int) -> None:
    block = (bytes(range(256)) * 4096)[:MiB]
    with open(path, "r+b") as f:
        for offset in range(0, size, MiB):
            f.write(block[: min(MiB, size - offset)])
        f.flush()
        os.fsync(f.fileno())


def bench_copy(p, names, mnt: str, size: int, rounds: int = 2) -> dict[str, float]:
    sd, sp = names["sd"], names["sp"]
    img, vol = new_uuid(), new_uuid()
    finish(p, ok(p.createVolume(sd, sp, img, size, RAW, PREALLOCATED, "DATA", vol,
                                "source"))["uuid"])
    src = ok(p.getVolumePath(sd, sp, img, vol))["path"]
    fill(src, size)
    best: dict[str, float] = {}
    for _ in range(rounds):  # interleaved, best of each: same cache state
        for cache in ("none", "writeback"):
            # a new directory beside the images, as copyImage's target
            # (ext4 places a new directory's data afresh)
            dst_dir = os.path.join(os.path.dirname(os.path.dirname(src)), new_uuid())
            os.mkdir(dst_dir)
            dst = os.path.join(dst_dir, "plain-copy")
            drop_caches()
            start = time.monotonic()
            commands.run(["qemu-img", "convert", "-t", cache, "-T", cache, "-f",
                          "raw", "-O", "raw", src, dst], timeout=600)
            os.sync()
            _best(best, f"qemu-img convert -t {cache}", time.monotonic() - start)
            os.unlink(dst)
            os.rmdir(dst_dir)
        drop_caches()
        dst_img, dst_vol = new_uuid(), new_uuid()
        quiet = 0.8 * best["qemu-img convert -t none"]
        start = time.monotonic()
        task = ok(p.copyImage(sd, sp, "", img, vol, dst_img, dst_vol, "copy", BLANK,
                              8, RAW, SPARSE))["uuid"]
        _best(best, "copyImage", finish(p, task, poll=0.005, quiet=quiet) - start)
        finish(p, ok(p.deleteImage(sd, sp, dst_img))["uuid"])
    return {name: size / MiB / seconds for name, seconds in best.items()}


def _best(best: dict[str, float], name: str, seconds: float) -> None:
    best[name] = min(seconds, best.get(name, seconds))


def bench_create(p, names, mnt: str, count: int) -> dict[str, list[float]]:
    sd, sp = names["sd"], names["sp"]
    out: dict[str, list[float]] = {}
    for label, fmt in (("RAW", RAW), ("COW", COW)):
        ours, plain = [], []
        for i in range(count):
            start = time.monotonic()
            task = ok(p.createVolume(sd, sp, new_uuid(), 1024 * MiB, fmt, SPARSE,
                                     "DATA", new_uuid(), "bench"))["uuid"]
            ours.append(finish(p, task) - start)
            path = os.path.join(mnt, f"plain-{label}-{i}")
            start = time.monotonic()
            commands.run(["qemu-img", "create", "-f",
                          "raw" if fmt == RAW else "qcow2", path, "1G"])
            plain.append(time.monotonic() - start)
            os.unlink(path)
        out[f"createVolume {label}"] = ours
        out[f"qemu-img create {label}"] = plain
    return out


def bench_repo_stats(host, device: str, calls: int) -> dict[str, list[float]]:
    p = host.proxy()
    domains = []
    for i in range(20):
        sd = new_uuid()
        ok(p.createStorageDomain(6, sd, f"bench-{i}", device, 1))
        ok(p.startMonitoringDomain(sd, 0))
        domains.append(sd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = ok(p.repoStats())["info"]
        if all(stats.get(d, {}).get("actual") for d in domains):
            break
        time.sleep(0.2)
    out: dict[str, list[float]] = {"repoStats (20 domains)": [], "ping": []}
    for _ in range(calls):
        for name, call in (("repoStats (20 domains)", p.repoStats), ("ping", p.ping)):
            start = time.monotonic()
            ok(call())
            out[name].append(time.monotonic() - start)
    for sd in domains:
        ok(p.stopMonitoringDomain(sd))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--creates", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--section", choices=("core", "ovf", "transfer", "copy",
                                                 "block-transfer", "trim"),
                        default="core",
                        help="run only this section (its own module)")
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--sparsify-mb", type=int, default=1024)
    parser.add_argument("--trim-mb", type=int, default=256)
    args = parser.parse_args()
    if args.section == "ovf":
        from benchmarks.storage_ovf import run
        return run(args)
    if args.section == "transfer":
        from benchmarks.storage_transfer import transfer
        transfer(args.size_mb)
        return 0
    if args.section == "block-transfer":
        from benchmarks.storage_transfer_block import block_transfer
        block_transfer(min(args.size_mb, 512), args.rounds)
        return 0
    if args.section == "trim":
        from benchmarks.storage_trim import run as trim_run
        trim_run(args.trim_mb, min(args.rounds, 3))
        return 0
    if args.section == "copy":
        from benchmarks.storage_copy import run as copy_run
        copy_run(args.rounds)
        return 0
    ensure_vdsm_user()
    host = StorageHost({("irs", "sd_health_check_delay"): 2.0}).start()
    try:
        with loop_ext4(args.size_mb * 4 + 512, direct_io=True,
                       preallocate=True) as device:
            p = host.proxy()
            names = create_pool(p, device)
            mnt = os.path.join(host.config.mount_root,
                               "_dev_" + os.path.basename(device))
            print(f"copy of a {args.size_mb} MiB image (MiB/s, higher is better):")
            rates = bench_copy(p, names, mnt, args.size_mb * MiB, args.rounds)
            for name, rate in rates.items():
                print(f"  {name:32s} {rate:8.1f}")
            for cache in ("none", "writeback"):
                plain = rates[f"qemu-img convert -t {cache}"]
                print(f"  ratio copyImage / qemu-img -t {cache}: "
                      f"{rates['copyImage'] / plain:.2f}")
            print(f"create of a 1 GiB sparse volume, {args.creates} each (ms):")
            for name, values in bench_create(p, names, mnt, args.creates).items():
                print(f"  {name:32s} p50 {1000 * statistics.median(values):7.1f}"
                      f"  max {1000 * max(values):7.1f}")
            print(f"repoStats, {args.calls} calls (ms):")
            for name, values in bench_repo_stats(host, device, args.calls).items():
                print(f"  {name:32s} p50 {1000 * statistics.median(values):7.2f}"
                      f"  p99 {1000 * pct(values, 0.99):7.2f}")
            ok(p.spmStop(names["sp"]))
            ok(p.disconnectStoragePool(names["sp"], 1, ""))
            ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
