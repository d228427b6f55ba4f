"""reconstructMaster with a block domain (storage/spm/reconstruct.py), on a
real agent whose LUNs are loop devices and LVs lvfiles files (blockagent).

A pool with a block master and a file domain is reconstructed on the file
domain while the block master is still reachable (it becomes a regular
domain: its VG metadata rewritten), then back on the block domain (its
master file system laid out again); each time the SPM starts on the new
master and runs a task on the block domain.
"""

from __future__ import annotations

from tests.storage import blockagent
from tests.storage.blockagent import MiB, block_pool
from tests.storage.helpers import (
    BLANK,
    become_spm,
    code,
    loop_ext4,
    merged,
    new_uuid,
    ok,
    posix_connection,
    wait_task,
)
from tests.storage.lvmhelpers import need_lvm

pytestmark = need_lvm
lv_dir, host = blockagent.lv_dir, blockagent.host     # the shared fixtures
RAW, SPARSE = 5, 2


def create_volume(p, sd, sp):
    task = ok(p.createVolume(sd, sp, new_uuid(), 8 * MiB, RAW, SPARSE, "DATA",
                             new_uuid(), "after reconstruct"))["uuid"]
    status = wait_task(p, task, 90)
    assert status["taskResult"] == "success", status
    ok(p.clearTask(task))


def role(p, sd):
    return ok(p.getStorageDomainInfo(sd))["info"]["role"]


def test_reconstruct_between_block_and_file_masters(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir) as names, loop_ext4(64) as device:
        bsd, sp = names["sd"], names["sp"]
        con = posix_connection(device)
        ok(p.connectStorageServer(6, BLANK, [con]))
        try:
            fsd = new_uuid()
            ok(p.createStorageDomain(6, fsd, "file data", device, 1))
            ok(p.attachStorageDomain(fsd, sp))
            ok(p.activateStorageDomain(fsd, sp))
            domains = {bsd: "Active", fsd: "Active"}
            ok(p.spmStop(sp))
            ok(p.disconnectStoragePool(sp, 1, ""))

            assert code(p.reconstructMaster(sp, "r", fsd, domains, 1, "", 0, 0, 0,
                                            0, 1)) == 326   # the block master is at 1
            ok(p.reconstructMaster(sp, "r", fsd, domains, 2, "", 0, 0, 0, 0, 1))
            assert (role(p, bsd), role(p, fsd)) == ("Regular", "Master")
            ok(p.connectStoragePool(sp, 1, "", fsd, 2))
            become_spm(p, sp, 90)
            create_volume(p, bsd, sp)
            ok(p.spmStop(sp))
            ok(p.disconnectStoragePool(sp, 1, ""))

            ok(p.reconstructMaster(sp, "r", bsd, domains, 3, "", 0, 0, 0, 0, 1))
            assert (role(p, bsd), role(p, fsd)) == ("Master", "Regular")
            ok(p.connectStoragePool(sp, 1, "", bsd, 3))
            become_spm(p, sp, 90)
            info = merged(p.getStoragePoolInfo(sp))["info"]
            assert (info["master_uuid"], info["master_ver"]) == (bsd, 3)
            create_volume(p, bsd, sp)
            ok(p.deactivateStorageDomain(fsd, sp, BLANK, 0))
            ok(p.detachStorageDomain(fsd, sp))
        finally:
            p.disconnectStorageServer(6, BLANK, [con])
