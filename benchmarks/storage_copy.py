"""Copy between domains: a 3-layer image through the agent beside plain
qemu-img (section ``copy`` of benchmarks/storage.py).

Two POSIX domains on two loop-backed ext4 (direct I/O, preallocated) in
one pool. The image: 1 GiB virtual, a RAW base with 512 MiB of data and
two COW layers with 256 MiB each (1 GiB of data in all). Timed, best of
``--rounds``, caches dropped before each:

- agent: cloneImageStructure + syncImageData(ALL), call to task finished;
- agent moveImage (op 1: copy, and the qemu-img compare before it ends);
- plain: the same chain by hand on the same file systems: ``qemu-img
  create`` of each layer on its parent and ``qemu-img convert -n -B``
  into it, as the agent runs it (-t none -T none).

    .venv/bin/python benchmarks/storage.py --section copy [--rounds 2]
"""

from __future__ import annotations

import os
import time

from benchmarks.storage import drop_caches, finish
from tests.storage.helpers import (
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
    posix_connection,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands

MiB = 1024 * 1024
RAW, COW, SPARSE = 5, 4, 2
# Each poll of a task is a TLS connection the agent serves on the same two
# CPUs as the copy: polled every 2-5 ms (hundreds of handshakes during a
# clone+sync), the client's own load slowed the copy it measures. 20 ms
# bounds the timing error to under 1 % of the copy.
POLL = 0.02
LAYERS = (("raw", 0, 512), ("qcow2", 512, 256), ("qcow2", 768, 256))  # MiB


def make_chain(p, sd: str, sp: str) -> tuple[str, list[str], list[str]]:
    """The image, its volumes and their paths, each layer written."""
    img, vols, paths = new_uuid(), [], []
    for i, (fmt, offset, length) in enumerate(LAYERS):
        vol = new_uuid()
        parent = (img, vols[-1]) if vols else ()
        finish(p, ok(p.createVolume(sd, sp, img, 1024 * MiB,
                                    RAW if fmt == "raw" else COW, SPARSE, "DATA",
                                    vol, f"layer {i}", *parent))["uuid"])
        path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
        cmds = [f"write -P {0x21 + i} {offset + n}M 64M"
                for n in range(0, length, 64)]
        commands.run(["qemu-io", "-t", "none", "-f", fmt,
                      *(a for c in cmds for a in ("-c", c)), path], timeout=600)
        vols.append(vol)
        paths.append(path)
    return img, vols, paths


def plain_copy(paths: list[str], dst_dir: str) -> float:
    """The chain copied by hand, layer by layer; seconds."""
    os.mkdir(dst_dir)
    start = time.monotonic()
    parent = None
    for (fmt, _, _), src in zip(LAYERS, paths, strict=True):
        dst = os.path.join(dst_dir, os.path.basename(src))
        if fmt == "raw":
            commands.run(["qemu-img", "create", "-f", "raw", dst, "1G"], timeout=60)
            backing = []
        else:
            commands.run(["qemu-img", "create", "-f", "qcow2", "-b", parent,
                          "-F", "raw" if parent == os.path.basename(paths[0])
                          else "qcow2", "-u", dst, "1G"], timeout=60, cwd=dst_dir)
            backing = ["-B", parent]
        commands.run(["qemu-img", "convert", "-t", "none", "-T", "none", "-f", fmt,
                      "-O", fmt, *backing, "-n", src, dst], timeout=600,
                     cwd=os.path.dirname(src))
        parent = os.path.basename(src)
    os.sync()
    return time.monotonic() - start


def run(rounds: int = 2) -> dict[str, float]:
    """Seconds (best of ``rounds``) of each way; prints the figures."""
    ensure_vdsm_user()
    host = StorageHost().start()
    best: dict[str, float] = {}
    try:
        with loop_ext4(3072, direct_io=True, preallocate=True) as dev_a, \
                loop_ext4(3072, direct_io=True, preallocate=True) as dev_b:
            p = host.proxy()
            names = create_pool(p, dev_a)
            a, sp = names["sd"], names["sp"]
            con_b = posix_connection(dev_b)
            ok(p.connectStorageServer(6, BLANK, [con_b]))
            b = new_uuid()
            ok(p.createStorageDomain(6, b, "domain B", dev_b, 1))
            ok(p.attachStorageDomain(b, sp))
            ok(p.activateStorageDomain(b, sp))
            img, _, paths = make_chain(p, a, sp)
            mnt_b = os.path.join(host.config.mount_root, "_dev_" +
                                 os.path.basename(dev_b))
            for _ in range(rounds):
                dst_dir = os.path.join(mnt_b, "plain-" + new_uuid())
                drop_caches()
                _best(best, "qemu-img by hand", plain_copy(paths, dst_dir))
                commands.run(["rm", "-rf", dst_dir], timeout=60)

                drop_caches()
                start = time.monotonic()
                cloned = finish(p, ok(p.cloneImageStructure(sp, a, img, b))["uuid"],
                                poll=POLL)
                synced = finish(p, ok(p.syncImageData(sp, a, img, b, "ALL"))["uuid"],
                                poll=POLL, quiet=0.8 * best["qemu-img by hand"])
                _best(best, "clone+syncData", synced - start)
                _best(best, "  of which syncData", synced - cloned)
                finish(p, ok(p.deleteImage(b, sp, img))["uuid"])

                drop_caches()
                start = time.monotonic()
                finish(p, ok(p.moveImage(sp, a, b, img, "", 1))["uuid"], poll=POLL,
                       quiet=0.8 * best["qemu-img by hand"])
                _best(best, "moveImage (copy+compare)", time.monotonic() - start)
                finish(p, ok(p.deleteImage(b, sp, img))["uuid"])
            ok(p.deactivateStorageDomain(b, sp, a, 1))
            ok(p.spmStop(sp))
            ok(p.disconnectStoragePool(sp, 1, ""))
            ok(p.disconnectStorageServer(6, BLANK, [names["con"], con_b]))
    finally:
        host.stop()
    data = sum(length for _, _, length in LAYERS)
    print(f"copy of a 1 GiB 3-layer image ({data} MiB of data) between two file "
          f"domains (best of {rounds}):")
    plain = best["qemu-img by hand"]
    for name, seconds in best.items():
        print(f"  {name:28s} {seconds:7.2f} s {data / seconds:8.1f} MiB/s"
              f"  ratio {plain / seconds:.2f}")
    return best


def _best(best: dict[str, float], name: str, seconds: float) -> None:
    best[name] = min(seconds, best.get(name, seconds))
