"""Image repository benchmark, section ``ovf`` (issue 13 parts 3 and 4):

- updateVM of ``--vms`` VMs (one call each, a ~16 KiB OVF) and getVmsInfo
  of all of them, beside the plain work on the same file system: the same
  files written by Python with temp file + fsync + rename + directory
  fsync, and read back with ``cat``;
- sparsifyImage of a RAW volume whose ext4 had a file of ``--fill-mb``
  written and deleted, beside the plain tools on the same work (``losetup``
  + ``mount`` + ``fstrim`` + ``qemu-img convert`` + ``mv``): seconds and
  MiB given back.

    .venv/bin/python benchmarks/storage.py --section ovf [--vms 200]

Needs root and the sanlock package (see tests/storage/helpers.py).
"""

from __future__ import annotations

import glob
import os
import statistics
import tempfile
import time
from typing import Any

from benchmarks.storage import RAW, SPARSE, MiB, finish, pct
from tests.storage.helpers import StorageHost, create_pool, loop_ext4, new_uuid, ok
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands

OVF = ("<ovf:Envelope>" + "<Item>disk</Item>" * 1000 + "</ovf:Envelope>\n")


def plain_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_ovf(p, names: dict[str, Any], mnt: str, vms: int) -> dict[str, Any]:
    sp = names["sp"]
    agent, plain = [], []
    plain_dir = os.path.join(mnt, "plain-vms")
    for _ in range(vms):
        vm = new_uuid()
        start = time.monotonic()
        ok(p.updateVM(sp, [{"vm": vm, "ovf": OVF, "imglist": ""}]))
        agent.append(time.monotonic() - start)
        start = time.monotonic()
        plain_write(os.path.join(plain_dir, vm, vm + ".ovf"), OVF.encode())
        plain.append(time.monotonic() - start)
    start = time.monotonic()
    got = ok(p.getVmsInfo(sp, "00000000-0000-0000-0000-000000000000"))["vmlist"]
    read_agent = time.monotonic() - start
    assert len(got) == vms
    start = time.monotonic()
    commands.run(["cat", *glob.glob(f"{plain_dir}/*/*.ovf")], timeout=120)
    read_plain = time.monotonic() - start
    return {"updateVM": agent, "plain atomic write": plain,
            "read_all_s": {"getVmsInfo": read_agent, "cat": read_plain}}


def fill_and_delete(path: str, mib: int) -> None:
    commands.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path], timeout=120)
    target = tempfile.mkdtemp()
    commands.run(["mount", "-o", "loop,nodiscard", path, target], timeout=60)
    try:
        commands.run(["dd", "if=/dev/urandom", f"of={target}/big", "bs=1M",
                      f"count={mib}", "conv=fsync", "status=none"], timeout=600)
        os.unlink(os.path.join(target, "big"))
        os.sync()
    finally:
        commands.run(["umount", target], timeout=60)
        os.rmdir(target)


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def plain_sparsify(path: str) -> None:
    target = tempfile.mkdtemp()
    loop = commands.run(["losetup", "-f", "--show", path], timeout=60).out.strip()
    try:
        commands.run(["mount", loop, target], timeout=60)
        commands.run(["fstrim", target], timeout=600)
        commands.run(["umount", target], timeout=60)
    finally:
        commands.run(["losetup", "-d", loop], timeout=60)
        os.rmdir(target)
    commands.run(["qemu-img", "convert", "-t", "none", "-T", "none", "-f", "raw",
                  "-O", "raw", path, path + ".tmp"], timeout=600)
    os.rename(path + ".tmp", path)


def bench_sparsify(p, names: dict[str, Any], size_mb: int, fill_mb: int
                   ) -> dict[str, Any]:
    sd, sp = names["sd"], names["sp"]
    result = {}
    for name in ("sparsifyImage", "plain tools"):
        img, vol = new_uuid(), new_uuid()
        finish(p, ok(p.createVolume(sd, sp, img, size_mb * MiB, RAW, SPARSE, "DATA",
                                    vol, "s"))["uuid"])
        path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
        fill_and_delete(path, fill_mb)
        before = allocated(path)
        start = time.monotonic()
        if name == "sparsifyImage":
            finish(p, ok(p.sparsifyImage(sp, sd, img, vol))["uuid"], poll=0.01)
        else:
            plain_sparsify(path)
        seconds = time.monotonic() - start
        result[name] = {"seconds": seconds, "before_MiB": before / MiB,
                        "after_MiB": allocated(path) / MiB}
        finish(p, ok(p.deleteImage(sd, sp, img))["uuid"])
    return result


def run(args: Any) -> int:
    ensure_vdsm_user()
    host = StorageHost({("irs", "sparsify_host_trim"): True}).start()
    try:
        with loop_ext4(2 * args.sparsify_mb + 512) as device:
            p = host.proxy()
            names = create_pool(p, device)
            mnt = os.path.join(host.config.mount_root,
                               "_dev_" + os.path.basename(device))
            ovf = bench_ovf(p, names, mnt, args.vms)
            print(f"OVF store, {args.vms} VMs of {len(OVF) // 1024} KiB (ms per VM):")
            for name in ("updateVM", "plain atomic write"):
                values = ovf[name]
                print(f"  {name:24s} p50 {1000 * statistics.median(values):7.2f}"
                      f"  p99 {1000 * pct(values, 0.99):7.2f}")
            ratio = statistics.median(ovf["plain atomic write"]) / statistics.median(
                ovf["updateVM"])
            print(f"  ratio plain / updateVM (p50): {ratio:.2f}")
            reads = ovf["read_all_s"]
            print(f"  read all: getVmsInfo {1000 * reads['getVmsInfo']:.1f} ms, "
                  f"cat {1000 * reads['cat']:.1f} ms")
            fill = args.sparsify_mb * 3 // 4
            print(f"sparsify of a {args.sparsify_mb} MiB RAW volume after {fill} MiB "
                  "written and deleted in its ext4:")
            sp_res = bench_sparsify(p, names, args.sparsify_mb, fill)
            for name, r in sp_res.items():
                print(f"  {name:24s} {r['seconds']:6.2f} s  allocated "
                      f"{r['before_MiB']:.0f} -> {r['after_MiB']:.0f} MiB")
            ratio = (sp_res["plain tools"]["seconds"]
                     / sp_res["sparsifyImage"]["seconds"])
            print(f"  ratio plain / sparsifyImage (time): {ratio:.2f}")
    finally:
        host.stop()
    return 0
