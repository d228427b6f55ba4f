"""Image transfer benchmark: downloadImage / uploadImage beside curl.

A real host (vdsmd, supervdsmd, private sanlock) with a POSIX domain on
a loop ext4; a local HTTP server (tests/storage/transfer_server.py, in
this process) serves a file of ``size_mb`` MiB of data. Compared, on the
same bytes and the same file system:

- downloadImage into a RAW volume (call to task finished) vs
  ``curl -o`` into a file next to the volume;
- uploadImage of that volume (PUT) vs ``curl -T`` of the same file.

Caches are dropped before each run. downloadImage fsyncs the volume
before it turns LEGAL, so ``curl -o`` + ``sync FILE`` is the like-for-like
baseline (plain ``curl -o`` leaves the data in the page cache). Prints
MiB/s (best of ``rounds``) and the ratios agent / curl. Run through
benchmarks/storage.py ``--section transfer`` or directly:

    .venv/bin/python benchmarks/storage_transfer.py [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.storage import drop_caches, finish  # noqa: E402
from tests.storage.helpers import (  # noqa: E402
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
)
from tests.storage.transfer_server import TransferServer  # noqa: E402
from tests.supervdsm.helpers import ensure_vdsm_user  # noqa: E402
from vdsm.common import commands  # noqa: E402

MiB = 1024 * 1024
RAW, SPARSE = 5, 2


def make_source(path: str, size: int) -> None:
    """Data that does not compress or zero-detect (random blocks repeated)."""
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for offset in range(0, size, MiB):
            f.write(block[: min(MiB, size - offset)])


def timed(action: Callable[[], Any], size: int) -> float:
    drop_caches()
    start = time.monotonic()
    action()
    return size / MiB / (time.monotonic() - start)


def run_task(p: Any, answer: dict[str, Any], quiet: float = 0.0) -> None:
    """Wait for the task, polling (a TLS connection each, competing for
    the CPUs) only after ``quiet`` seconds it cannot finish sooner than."""
    finish(p, ok(answer)["uuid"], timeout=1800, poll=0.02, quiet=quiet)


def transfer(size_mb: int = 1024, rounds: int = 3) -> dict[str, float]:
    """Run the section; returns {name: MiB/s} and prints them."""
    size = size_mb * MiB
    ensure_vdsm_user()
    work = tempfile.mkdtemp(prefix="vdsm-xfer-bench-", dir="/var/tmp")
    source, put = os.path.join(work, "source.raw"), os.path.join(work, "put.raw")
    make_source(source, size)
    server = TransferServer(source, put)
    host = StorageHost({("irs", "sd_health_check_delay"): 2.0}).start()
    rates: dict[str, float] = {}
    try:
        with loop_ext4(size_mb * 3 + 512, preallocate=True) as device:
            p = host.proxy()
            names = create_pool(p, device)
            sd, sp = names["sd"], names["sp"]
            mnt = os.path.join(host.config.mount_root,
                               "_dev_" + os.path.basename(device))
            img, vol = new_uuid(), new_uuid()
            run_task(p, p.createVolume(sd, sp, img, size, RAW, SPARSE, "DATA", vol,
                                       "bench"))
            vol_path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
            method = {"method": "http", "url": server.url}
            curl_out = os.path.join(mnt, "curl.out")
            quiet = size / (2000 * MiB)    # no faster than 2 GB/s
            runs = {
                "downloadImage": lambda: run_task(
                    p, p.downloadImage(method, sp, sd, img, vol), quiet),
                "curl -o (same fs)": lambda: commands.run(
                    ["curl", "-sSf", "-o", curl_out, server.url], timeout=1800),
                "curl -o + sync (as download)": lambda: (commands.run(
                    ["curl", "-sSf", "-o", curl_out, server.url], timeout=1800),
                    commands.run(["sync", curl_out], timeout=600)),
                "uploadImage": lambda: run_task(
                    p, p.uploadImage(method, sp, sd, img, vol), quiet),
                "curl -T (PUT)": lambda: commands.run(
                    ["curl", "-sSf", "-T", vol_path, server.url], timeout=1800),
            }
            for name, action in runs.items():
                rates[name] = max(timed(action, size) for _ in range(rounds))
            os.unlink(curl_out)
            ok(p.spmStop(sp))
            ok(p.disconnectStoragePool(sp, 1, ""))
            ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"image transfer of {size_mb} MiB over loopback HTTP (MiB/s, best of "
          f"{rounds}):")
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:8.1f}")
    print(f"  ratio downloadImage / curl -o: "
          f"{rates['downloadImage'] / rates['curl -o (same fs)']:.2f}")
    print(f"  ratio downloadImage / curl -o + sync: "
          f"{rates['downloadImage'] / rates['curl -o + sync (as download)']:.2f}")
    print(f"  ratio uploadImage / curl -T:   "
          f"{rates['uploadImage'] / rates['curl -T (PUT)']:.2f}")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    transfer(args.size_mb, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
