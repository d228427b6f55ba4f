"""fenceSpmStorage between two real hosts (storage/spm/fence.py).

Two simulated hosts, each with its own sanlock daemon, supervdsmd and
vdsmd, share one loop-backed ext4 domain (as two_hosts_test). Host A is
the SPM. While A's agent is stopped (SIGSTOP) its lease holder is alive,
so B's fence is refused and nothing changes; once A's agent is killed its
sanlock drops the SPM lease, B's fence frees the role (classic spm_st) and
B's spmStart wins with a greater lease version.
"""

from __future__ import annotations

import signal

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    code,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    posix_connection,
    unmount_under,
    wait_for,
)
from tests.storage.two_hosts_test import in_parallel
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = [need_root, need_sanlock]
PARAMS_MISMATCH, LOCKED = 652, 657


@pytest.fixture(scope="module")
def hosts():
    ensure_vdsm_user()
    started = []
    try:
        for _ in range(2):
            started.append(StorageHost().start())
        yield started
    finally:
        for host in started:
            host.stop()


def test_fence_takes_the_spm_role_only_from_a_dead_holder(hosts):
    a, b = hosts
    pa, pb = a.proxy(), b.proxy()
    with loop_ext4(64) as device:
        con = posix_connection(device)
        for p in (pa, pb):
            ok(p.connectStorageServer(6, BLANK, [con]))
        sd, sp = new_uuid(), new_uuid()
        ok(pa.createStorageDomain(6, sd, "shared", device, 1))
        ok(pa.createStoragePool(0, sp, "fence", sd, [sd], 1))
        in_parallel(lambda: ok(pa.connectStoragePool(sp, 1, "", sd, 1)),
                    lambda: ok(pb.connectStoragePool(sp, 2, "", sd, 1)))
        become_spm(pa, sp)
        first = ok(pa.getSpmStatus(sp))["spm_st"]
        assert (first["spmStatus"], first["spmId"]) == ("SPM", 1)
        lver = first["spmLver"]

        # the SPM answers its own status; the wrong owner or lver is refused
        assert ok(pa.fenceSpmStorage(sp, 1, lver))["spm_st"] == first
        assert code(pb.fenceSpmStorage(sp, 2, lver)) == PARAMS_MISMATCH
        assert code(pb.fenceSpmStorage(sp, 1, lver - 1)) == PARAMS_MISMATCH

        vdsmd = a.root.procs["vdsmd"]
        vdsmd.send_signal(signal.SIGSTOP)   # A stops answering
        try:
            refused = pb.fenceSpmStorage(sp, 1, lver)
            assert code(refused) == LOCKED, refused   # its lease holder lives
            seen = ok(pb.getSpmStatus(sp))["spm_st"]
            assert (seen["spmId"], seen["spmLver"]) == (1, lver)
        finally:
            vdsmd.kill()                    # A's host is gone for good
            vdsmd.wait(10)

        def fenced():
            answer = pb.fenceSpmStorage(sp, 1, lver)
            assert code(answer) in (0, LOCKED), answer
            return answer if code(answer) == 0 else None
        st = wait_for(fenced, 20, "A's SPM lease to be dropped", interval=0.2)
        st = st["spm_st"]
        assert (st["spmStatus"], st["spmId"]) == ("Free", -1)
        assert st["spmLver"] > lver
        assert ok(pb.getSpmStatus(sp))["spm_st"]["spmId"] == -1
        become_spm(pb, sp)
        second = ok(pb.getSpmStatus(sp))["spm_st"]
        assert (second["spmStatus"], second["spmId"]) == ("SPM", 2)
        assert second["spmLver"] > st["spmLver"]
        ok(pb.spmStop(sp))
        ok(pb.disconnectStoragePool(sp, 2, ""))
        ok(pb.disconnectStorageServer(6, BLANK, [con]))
        unmount_under(a.root.root)  # A's agent cannot disconnect any more
