"""scripts/build-test-guest.py: what it builds, and that a rebuild is a no-op."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import time

from .harness import BUILD_SCRIPT


def _cpio(path: str) -> dict[str, bytes]:
    """The files of a gzipped newc archive, in archive order."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    files, pos = {}, 0
    while True:
        header = data[pos:pos + 110]
        assert header[:6] == b"070701"
        size = int(header[54:62], 16)
        namesize = int(header[94:102], 16)
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            return files
        pos += 110 + namesize
        pos += -pos % 4
        files[name] = data[pos:pos + size]
        pos += size + (-size % 4)


def test_guest_contents(guest):
    assert os.path.getsize(guest["kernel"]) > 1 << 20
    files = _cpio(guest["initrd"])
    names = list(files)
    assert "init" in names and "bin/busybox" in names
    assert b"VDSM-TEST-GUEST BOOTED" in files["init"]
    order = files["etc/modules.order"].decode().split()
    short = [os.path.basename(m)[:-3].replace("-", "_") for m in order]
    for needed in ("virtio_pci", "virtio_blk", "virtio_net", "virtio_console",
                   "virtio_balloon", "button"):
        assert needed in short
    # Each module's dependencies are loaded before it.
    for i, path in enumerate(order):
        info = files[f"lib/modules/{path}"]
        deps = info.split(b"\0depends=", 1)[1].split(b"\0", 1)[0].decode()
        for dep in filter(None, deps.split(",")):
            assert dep.replace("-", "_") in short[:i], (short[i], dep)
    if guest["agent"]:
        assert "usr/sbin/qemu-ga" in names


def test_rebuild_is_a_no_op(guest):
    before = os.stat(guest["initrd"]).st_mtime
    start = time.monotonic()
    res = subprocess.run([sys.executable, BUILD_SCRIPT], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start < 5
    assert os.stat(guest["initrd"]).st_mtime == before


def test_guest_carries_the_ovirt_agent_stand_in(guest):
    files = _cpio(guest["initrd"])
    with open(os.path.join(os.path.dirname(BUILD_SCRIPT),
                           "test-guest-ovirt-agent.sh"), "rb") as f:
        assert files["bin/ovirt-agent"] == f.read()
    assert b"/bin/ovirt-agent" in files["init"]


def test_a_changed_guest_script_makes_the_cache_stale(guest, tmp_path):
    """The cache is keyed on the digest of the build script and the guest's
    scripts, so editing one rebuilds without a RECIPE bump."""
    spec = importlib.util.spec_from_file_location("build_test_guest",
                                                  BUILD_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    info = dict(guest)
    path = tmp_path / "guest.json"
    path.write_text(json.dumps(info))
    assert script.is_fresh(str(path), agent=info["asked_agent"])
    info["digest"] = "0" * 64     # built from other scripts
    path.write_text(json.dumps(info))
    assert not script.is_fresh(str(path), agent=info["asked_agent"])
    path.write_text("{")
    assert not script.is_fresh(str(path), agent=info["asked_agent"])
