"""kill -9 of vdsmd in the middle of createVolume on a block domain.

The SPM job is held at a named pause point (vdsm.storage.faults, as in
crash_points_test) and vdsmd killed there: before the LV is made (the
ILLEGAL metadata write is a no-op for a volume without an LV), and after
the LV, qcow2 header, ILLEGAL metadata slot and lease are written but
before the volume is LEGAL. After the restart the next SPM rolls the task
back (its record is on the block master's file system): no LV and no
volume is left, and the same createVolume, retried, makes a LEGAL volume.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.storage import blockagent
from tests.storage.blockagent import DATA, ISCSI, MiB, block_host, domain_vg, root_lvm
from tests.storage.crash_points_test import assert_no_half_volume, kill_at, volumes
from tests.storage.helpers import become_spm, new_uuid, ok, wait_for, wait_task
from tests.storage.lvmhelpers import need_lvm

pytestmark = need_lvm
lv_dir = blockagent.lv_dir          # the shared fixture
COW, SPARSE = 4, 2


@pytest.fixture
def host(lv_dir):
    pause_dir = tempfile.mkdtemp(prefix="vdsm-pause-", dir="/var/tmp")
    os.chmod(pause_dir, 0o777)  # vdsmd (as vdsm) writes <file>.reached
    pause_file = os.path.join(pause_dir, "pause")
    h = block_host(lv_dir, {("irs", "test_pause_file"): pause_file})
    h.pause_file = pause_file
    try:
        yield h
    finally:
        if os.path.exists(pause_file):
            os.unlink(pause_file)
        h.stop()
        shutil.rmtree(pause_dir, ignore_errors=True)


# write #1 is before the image is made, #2 before create_data (the LV),
# #3 after the LV, its slot (ILLEGAL) and its lease, before LEGAL
@pytest.mark.parametrize("step", [2, 3], ids=["before-lv", "before-legal"])
def test_kill_during_create_volume_leaves_no_half_volume(host, lv_dir, step):
    p = host.proxy()
    with domain_vg(p, lv_dir) as (sd, vg_uuid, nodes):
        ok(p.createStorageDomain(ISCSI, sd, "block data", vg_uuid, DATA, 5))
        sp = new_uuid()
        ok(p.createStoragePool(0, sp, "block pool", sd, [sd], 1))
        ok(p.connectStoragePool(sp, 1, "", sd, 1))
        become_spm(p, sp, 90)
        img, vol = new_uuid(), new_uuid()

        def create(proxy):
            return ok(proxy.createVolume(sd, sp, img, str(GIB), COW, SPARSE, "DATA",
                                         vol, "cut"))["uuid"]
        task = kill_at(host, "write", step, lambda: create(p))
        lvm = root_lvm(sd, nodes)
        assert (vol in [lv.name for lv in lvm.lvs(sd)]) == (step == 3)

        host.root.start_vdsmd()
        p = host.proxy()
        try:
            ok(p.connectStoragePool(sp, 1, "", sd, 1))
            become_spm(p, sp, 90)
            assert wait_task(p, task, 60)["taskResult"] == "cleanSuccess"
            assert volumes(p, sd, sp, img) == []
            lvm.invalidate()
            assert vol not in [lv.name for lv in lvm.lvs(sd)]
            assert_no_half_volume(p, sd, sp)
            # lvfiles drops a removed LV's file within its poll interval (a
            # real host's device node goes with lvremove): a retry before
            # that races lvfiles reloading its map, not the agent
            lv_file = os.path.join(lv_dir, sd, vol)
            wait_for(lambda: not os.path.exists(lv_file), 10, "the LV file gone")
            status = wait_task(p, create(p), 90)
            assert status["taskResult"] == "success", status
            info = ok(p.getVolumeInfo(sd, sp, img, vol))["info"]
            assert (info["legality"], info["format"]) == ("LEGAL", "COW")
            status = wait_task(p, ok(p.deleteImage(sd, sp, img))["uuid"], 90)
            assert status["taskResult"] == "success", status
        finally:
            p.spmStop(sp)
            p.disconnectStoragePool(sp, 1, "")


GIB = 1024 * MiB
