"""Running VMs' disks (issue 12): figures beside virsh on the same work.

Section "live storage migration" (diskReplicateStart/Finish): a TCG guest
whose disk is a COW leaf over a RAW base on one file domain of a real
pool (loop-backed ext4, a storage agent with sanlock as in
tests/virt/replication_test.py) fills its active layer with ``--mib`` MiB;
then the disk moves between the pool's two domains, each way in turn:
twice through the agent's API (start, wait for the mirror to be ready,
finish with a pivot), twice with ``virsh blockcopy --reuse-external
--shallow --transient-job --wait --pivot`` on the same volumes. Printed:
the median wall time of each and the ratio agent / virsh. virsh's
``--wait`` checks the job every 500 ms, the agent side here every 50 ms:
for small layers that polling, not the copy, is most of virsh's time.

    .venv/bin/python benchmarks/vm_disks.py --section replication [--rounds 3]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.virt.conftest import network_namespace  # noqa: E402
from tests.virt.harness import wait_for  # noqa: E402
from tests.virt.replication_test import Rig, running_rig, two_domain_pool  # noqa: E402
from tests.virt.thinprov_test import PATTERN, WRITE  # noqa: E402
from vdsm.common import commands  # noqa: E402

MIB = 1 << 20
POLL = 0.05      # seconds between the agent side's readiness checks


def agent_move(rig: Rig, src: str, dst: str) -> float:
    """diskReplicateStart, the mirror ready, diskReplicateFinish (pivot)."""
    start = time.monotonic()
    answer = rig.proxy.diskReplicateStart(rig.vm_id, rig.spec(src), rig.spec(dst))
    assert answer["status"]["code"] == 0, answer
    rig.wait_mirror_ready(timeout=600)

    def finished() -> bool:
        code = rig.proxy.diskReplicateFinish(rig.vm_id, rig.spec(src),
                                             rig.spec(dst))["status"]["code"]
        assert code in (0, 40), code      # 40: not ready yet, ask again
        return code == 0
    wait_for(finished, 60, "the pivot", interval=POLL)
    return time.monotonic() - start


def virsh_move(rig: Rig, dst: str) -> float:
    start = time.monotonic()
    commands.run(["virsh", "-c", rig.uri, "blockcopy", rig.vm_id, "vda",
                  "--dest", rig.file(dst), "--format", "qcow2",
                  "--reuse-external", "--shallow", "--transient-job", "--wait",
                  "--pivot"], timeout=600)
    return time.monotonic() - start


def live_storage_migration(rig: Rig, rounds: int, mib: int) -> dict:
    rig.sh(PATTERN)
    out = rig.sh(WRITE.format(n=mib // 8, dev="vda"), timeout=900)
    assert f"{mib}+0 records out" in out, out
    agent, virsh = [], []
    for _ in range(rounds):
        agent.append(agent_move(rig, "sd1", "sd2"))
        agent.append(agent_move(rig, "sd2", "sd1"))
        # virsh leaves the agent's definition behind: it moves the disk
        # there and back, so the agent finds it where it left it
        virsh.append(virsh_move(rig, "sd2"))
        virsh.append(virsh_move(rig, "sd1"))
    a, v = statistics.median(agent), statistics.median(virsh)
    return {"active_layer_mib": mib, "moves_each": len(agent),
            "agent_s": round(a, 3), "virsh_s": round(v, 3),
            "agent_mib_s": round(mib / a, 1), "virsh_mib_s": round(mib / v, 1),
            "ratio_agent_to_virsh": round(a / v, 3),
            "agent_all_s": [round(x, 3) for x in agent],
            "virsh_all_s": [round(x, 3) for x in virsh]}


def replication(guest: dict, rounds: int, mib: int = 256) -> dict:
    """The ``replication`` section of benchmarks/vm_disks.py."""
    size = max(512 * MIB, 2 * mib * MIB)
    with two_domain_pool(size=size, fs_mb=3 * size // MIB + 256) as pool, \
            network_namespace() as netns, running_rig(pool, netns, guest) as rig:
        return live_storage_migration(rig, rounds, mib)
