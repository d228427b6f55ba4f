"""Block-domain download benchmark: downloadImage into a block volume whose
LV starts at one extent, beside curl into an LV of the final size.

A real host (vdsmd, supervdsmd, private sanlock) as SPM of a pool whose
master is a block domain (loop devices as LUNs, LVs served as files by
lvfiles: no device-mapper here, so every byte goes through FUSE); a local
HTTP server (tests/storage/transfer_server.py, in this process) serves a
qcow2 holding ``size_mb`` MiB of data. Compared, on the same bytes and the
same kind of LV:

- downloadImage (call to task finished: size check, lvextend to the
  image's size, the LV's path refreshed, GET, fsync, verified);
- ``curl -o LV`` + ``sync`` into another volume's LV already that large.

Caches are dropped before each run. Prints MiB/s (best of ``rounds``) and
the ratio agent / curl. Run through benchmarks/storage.py ``--section
block-transfer`` or directly:

    .venv/bin/python benchmarks/storage_transfer_block.py [--size-mb 512]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.storage import drop_caches, finish  # noqa: E402
from benchmarks.storage_transfer import make_source  # noqa: E402
from tests.storage.blockagent import block_host, block_pool, new_lv_dir  # noqa: E402
from tests.storage.helpers import BLANK, new_uuid, ok  # noqa: E402
from tests.storage.transfer_server import TransferServer  # noqa: E402
from vdsm.common import commands  # noqa: E402
from vdsm.storage import qemuimg  # noqa: E402

MiB = 1024 * 1024
COW, SPARSE, RAW, PREALLOCATED = 4, 2, 5, 1


def volume(p: Any, names: dict[str, Any], capacity: int, *, fmt: int,
           initial: int | None = None) -> tuple[str, str, str]:
    img, vol = new_uuid(), new_uuid()
    extra = [BLANK, BLANK, str(initial)] if initial else []
    finish(p, ok(p.createVolume(names["sd"], names["sp"], img, str(capacity), fmt,
                                SPARSE if fmt == COW else PREALLOCATED, "DATA",
                                vol, "bench", *extra))["uuid"], timeout=600,
           poll=0.05)
    path = ok(p.getVolumePath(names["sd"], names["sp"], img, vol))["path"]
    return img, vol, path


def block_transfer(size_mb: int = 512, rounds: int = 3) -> dict[str, float]:
    """Run the section; returns {name: MiB/s} and prints them."""
    work = tempfile.mkdtemp(prefix="vdsm-blockxfer-bench-", dir="/var/tmp")
    raw, image = os.path.join(work, "source.raw"), os.path.join(work, "image.qcow2")
    make_source(raw, size_mb * MiB)
    qemuimg.convert(raw, image, src_format=qemuimg.RAW, dst_format=qemuimg.QCOW2)
    os.unlink(raw)
    size = os.path.getsize(image)
    server = TransferServer(image, os.path.join(work, "put"))
    rates: dict[str, list[float]] = {"downloadImage (LV grown)": [],
                                     "curl -o LV + sync": []}
    try:
        with new_lv_dir() as lv_dir:
            host = block_host(lv_dir)
            try:
                p = host.proxy()
                with block_pool(p, lv_dir) as names:
                    _, _, curl_lv = volume(p, names, size, fmt=RAW)
                    for _ in range(rounds):
                        img, vol, _ = volume(p, names, 2 * size_mb * MiB, fmt=COW,
                                             initial=16 * MiB)
                        drop_caches()
                        start = time.monotonic()
                        finish(p, ok(p.downloadImage(
                            {"method": "http", "url": server.url}, names["sp"],
                            names["sd"], img, vol))["uuid"], timeout=1800,
                            poll=0.02, quiet=size / (2000 * MiB))
                        rates["downloadImage (LV grown)"].append(
                            size / MiB / (time.monotonic() - start))
                        drop_caches()
                        start = time.monotonic()
                        commands.run(["curl", "-sSf", "-o", curl_lv, server.url],
                                     timeout=1800)
                        commands.run(["sync", curl_lv], timeout=600)
                        rates["curl -o LV + sync"].append(
                            size / MiB / (time.monotonic() - start))
            finally:
                host.stop()
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    best = {name: max(values) for name, values in rates.items()}
    print(f"download of a qcow2 of {size / MiB:.0f} MiB into a block volume over "
          f"loopback HTTP, LVs through lvfiles (MiB/s, best of {rounds}):")
    for name, rate in best.items():
        print(f"  {name:28s} {rate:8.1f}   runs: "
              f"{', '.join(f'{r:.1f}' for r in rates[name])}")
    print(f"  ratio downloadImage / curl: "
          f"{best['downloadImage (LV grown)'] / best['curl -o LV + sync']:.2f}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    block_transfer(args.size_mb, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
