"""kill -9 of vdsmd in the middle of createVolume, and what the next SPM does.

qemu-img is slowed down (a wrapper early on vdsmd's PATH waits while a
flag file exists, and gives up if its parent died) so that the kill lands
while the new volume exists only as ILLEGAL metadata. After a restart, the
SPM's task recovery finds the interrupted task on the master domain and
rolls it back: no trace of the volume, its parent LEAF again, and no LEGAL
half-made volume anywhere.
"""

from __future__ import annotations

import os
import signal

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
from vdsm.storage import qemuimg
from vdsm.storage.domains import metadata

pytestmark = [need_root, need_sanlock]
MiB = 1024 * 1024
RAW, COW, SPARSE = 5, 4, 2

WRAPPER = """#!/bin/sh
# qemu-img, held back while {flag} exists; gives up if its parent died.
if [ "$1" = create ]; then
    n=0
    while [ -e {flag} ] && [ $n -lt 300 ]; do
        kill -0 $PPID 2>/dev/null || exit 1
        sleep 0.1
        n=$((n + 1))
    done
    kill -0 $PPID 2>/dev/null || exit 1
fi
exec /usr/bin/qemu-img "$@"
"""


@pytest.fixture
def host():
    ensure_vdsm_user()
    h = StorageHost()
    bin_dir = os.path.join(h.root.root, "slow-bin")
    os.makedirs(bin_dir)
    flag = os.path.join(h.root.root, "hold-qemu-img")
    wrapper = os.path.join(bin_dir, "qemu-img")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(flag=flag))
    os.chmod(wrapper, 0o755)
    h.root.extra_env["PATH"] = bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")
    h.flag = flag
    h.start()
    try:
        yield h
    finally:
        if os.path.exists(flag):
            os.unlink(flag)
        h.stop()


def volume_files(image_dir):
    return sorted(os.listdir(image_dir)) if os.path.isdir(image_dir) else []


def test_kill_during_create_volume_is_rolled_back_by_the_next_spm(host):
    p = host.proxy()
    with loop_ext4(256) as device:
        names = create_pool(p, device)
        sd, sp, con = names["sd"], names["sp"], names["con"]
        img, base, snap = new_uuid(), new_uuid(), new_uuid()
        status = wait_task(p, ok(p.createVolume(sd, sp, img, 16 * MiB, RAW, SPARSE,
                                                "DATA", base, "base"))["uuid"])
        assert status["taskResult"] == "success"
        image_dir = os.path.dirname(ok(p.getVolumePath(sd, sp, img, base))["path"])

        open(host.flag, "w").close()
        task_id = ok(p.createVolume(sd, sp, img, 16 * MiB, COW, SPARSE, "DATA", snap,
                                    "interrupted", img, base))["uuid"]
        meta = os.path.join(image_dir, snap + ".meta")
        wait_for(lambda: os.path.exists(meta), 20, "the new volume's metadata")
        with open(meta, "rb") as f:
            assert metadata.parse_volume(f.read())["LEGALITY"] == "ILLEGAL"
        vdsmd = host.root.procs["vdsmd"]
        os.kill(vdsmd.pid, signal.SIGKILL)
        vdsmd.wait(10)
        host.root.procs.pop("vdsmd")
        os.unlink(host.flag)

        # what the crash left: an ILLEGAL volume and a running task on disk
        assert snap + ".meta" in volume_files(image_dir)
        task_dir = os.path.join(host.config.mount_root,
                                "_dev_" + os.path.basename(device), sd, "master",
                                "tasks", task_id)
        assert os.path.isdir(task_dir)

        host.root.start_vdsmd()
        p = host.proxy()
        ok(p.connectStoragePool(sp, 1, "", sd, 1))
        become_spm(p, sp)
        status = wait_task(p, task_id, 30)
        assert status["taskResult"] == "cleanSuccess", status  # rolled back
        assert ok(p.getTaskInfo(task_id))["TaskInfo"]["verb"] == "createVolume"

        assert not [n for n in volume_files(image_dir) if n.startswith(snap)]
        assert ok(p.getVolumesList(sd, sp, img))["uuidlist"] == [base]
        info = ok(p.getVolumeInfo(sd, sp, img, base))["info"]
        assert (info["voltype"], info["legality"]) == ("LEAF", "LEGAL")
        # no LEGAL half-volume anywhere in the domain
        for image in ok(p.getImagesList(sd))["imageslist"]:
            for vol in ok(p.getVolumesList(sd, sp, image))["uuidlist"]:
                vinfo = ok(p.getVolumeInfo(sd, sp, image, vol))["info"]
                path = ok(p.getVolumePath(sd, sp, image, vol))["path"]
                assert vinfo["legality"] == "LEGAL"
                fmt = "qcow2" if vinfo["format"] == "COW" else "raw"
                assert qemuimg.info(path, fmt=fmt)["virtual-size"] == int(
                    vinfo["capacity"])
        # the volume can now be created for real
        status = wait_task(p, ok(p.createVolume(sd, sp, img, 16 * MiB, COW, SPARSE,
                                                "DATA", snap, "again", img,
                                                base))["uuid"])
        assert status["taskResult"] == "success"
        ok(p.clearTask(task_id))
        assert not os.path.exists(task_dir)

        ok(p.spmStop(sp))
        ok(p.disconnectStoragePool(sp, 1, ""))
        ok(p.disconnectStorageServer(6, BLANK, [con]))

