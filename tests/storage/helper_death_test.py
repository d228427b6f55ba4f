"""Helpers die with vdsmd (vdsm.common.spawn), with the real daemons.

A ``qemu-img convert`` of copyImage, rate-limited by a wrapper early on
vdsmd's PATH so that it is surely running, must be gone within seconds of
a kill -9 of vdsmd: else it would write on while the next SPM rolls the
copy back. A helper that escaped anyway (simulated: a process carrying
the agent's mark) is killed at start-up, before the API answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_for,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import spawn

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, SPARSE, DATA = 5, 2, 8

WRAPPER = """#!/bin/sh
# qemu-img; while {pidfile}.slow exists, "convert" is rate-limited to
# 256 KiB/s and leaves its pid in {pidfile}
if [ "$1" = convert ] && [ -e {pidfile}.slow ]; then
    shift
    echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}
    exec /usr/bin/qemu-img convert -r 256K "$@"
fi
exec /usr/bin/qemu-img "$@"
"""


@pytest.fixture
def host():
    ensure_vdsm_user()
    h = StorageHost()
    bin_dir = os.path.join(h.root.root, "slow-bin")
    os.makedirs(bin_dir)
    os.chmod(bin_dir, 0o755)
    h.pidfile = os.path.join(h.root.root, "convert.pid")
    wrapper = os.path.join(bin_dir, "qemu-img")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(pidfile=h.pidfile))
    os.chmod(wrapper, 0o755)
    os.chmod(h.root.root, 0o777)  # the wrapper (as vdsm) writes its pid there
    h.root.extra_env["PATH"] = bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")
    h.start()
    try:
        yield h
    finally:
        h.stop()


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_vdsmd(host: StorageHost) -> None:
    vdsmd = host.root.procs.pop("vdsmd")
    os.kill(vdsmd.pid, signal.SIGKILL)
    vdsmd.wait(10)


def test_kill_during_copy_image_takes_qemu_img_along(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device)
        sd, sp, con = names["sd"], names["sp"], names["con"]
        img, vol = new_uuid(), new_uuid()
        assert wait_task(p, ok(p.createVolume(sd, sp, img, 32 * MiB, RAW, SPARSE,
                                              "DATA", vol, "src"))["uuid"]
                         )["taskResult"] == "success"
        with open(ok(p.getVolumePath(sd, sp, img, vol))["path"], "r+b") as f:
            f.write(os.urandom(16 * MiB))  # real data: ~60 s at the rate limit

        dst_img, dst_vol = new_uuid(), new_uuid()
        open(host.pidfile + ".slow", "w").close()
        task_id = ok(p.copyImage(sd, sp, "", img, vol, dst_img, dst_vol, "copy",
                                 BLANK, DATA, RAW, SPARSE))["uuid"]
        wait_for(lambda: os.path.exists(host.pidfile), 20, "qemu-img convert")
        with open(host.pidfile) as f:
            pid = int(f.read())
        assert alive(pid)
        kill_vdsmd(host)
        start = time.monotonic()
        while alive(pid) and time.monotonic() - start < 5:
            time.sleep(0.05)
        still_running = alive(pid)
        if still_running:  # the defect: stop it, or it outlives the test
            os.kill(pid, signal.SIGKILL)
        assert not still_running, "qemu-img convert outlived vdsmd"

        host.root.start_vdsmd()
        p = host.proxy()
        ok(p.connectStoragePool(sp, 1, "", sd, 1))
        become_spm(p, sp)
        status = wait_task(p, task_id, 30)
        assert status["taskResult"] == "cleanSuccess", status  # rolled back
        # no half-made destination, LEGAL or not
        assert dst_img not in ok(p.getImagesList(sd))["imageslist"]
        image_dir = os.path.join(os.path.dirname(os.path.dirname(
            ok(p.getVolumePath(sd, sp, img, vol))["path"])), dst_img)
        assert not os.path.exists(image_dir) or not os.listdir(image_dir)
        # the pool is usable: the same copy now runs to its end
        os.unlink(host.pidfile + ".slow")
        ok(p.clearTask(task_id))
        status = wait_task(p, ok(p.copyImage(sd, sp, "", img, vol, dst_img,
                                             dst_vol, "copy", BLANK, DATA, RAW,
                                             SPARSE))["uuid"], 120)
        assert status["taskResult"] == "success", status
        info = ok(p.getVolumeInfo(sd, sp, dst_img, dst_vol))["info"]
        assert info["legality"] == "LEGAL"

        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        ok(p.disconnectStorageServer(6, BLANK, [con]))


def test_start_up_kills_the_helpers_an_earlier_vdsmd_left(host):
    kill_vdsmd(host)
    run_dir = host.config.run_dir
    env = dict(os.environ)
    started = []
    try:
        for tag in (run_dir, run_dir + "-another-host"):
            env[spawn.MARK] = tag
            started.append(subprocess.Popen(["sleep", "300"], env=env,
                                            start_new_session=True))
        leftover, other = started
        host.root.start_vdsmd()
        assert leftover.wait(5) == -signal.SIGKILL  # gone before the API answered
        assert other.poll() is None  # another agent's helper is not ours
        assert "left by an earlier agent" in open(
            os.path.join(host.config.log_dir, "vdsm.log")).read()
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
