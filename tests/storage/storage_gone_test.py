"""A POSIX domain whose mount goes away behind the agent's back (umount -l).

With the real daemons and two loop-backed ext4 domains: once one mount
is lazily unmounted, repoStats reports that domain invalid within a few
check intervals, API calls keep answering in under 1 s, and the other
domain stays valid. (A storage that hangs is monitor_test; the SPM's
self-fencing when the master's host id is lost is spm_test's
test_spm_that_loses_storage_fences_itself_and_the_next_one_rolls_back.)
"""

from __future__ import annotations

import time

from tests.storage.helpers import (
    BLANK,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    posix_connection,
    wait_for,
)
from vdsm.common import commands
from vdsm.storage.connections import mounts

pytestmark = [need_root, need_sanlock]
CHECK_INTERVAL = 0.5  # sd_health_check_delay of tests.storage.helpers


def timed(call):
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


def mountpoint_of(device: str) -> str:
    for record in mounts.mount_records():
        if record.source == device:
            return record.mountpoint
    raise AssertionError(f"{device} is not mounted")


def test_unmounted_domain_turns_invalid_others_unaffected(host):
    p = host.proxy()
    with loop_ext4(64) as dev_good, loop_ext4(64) as dev_gone:
        domains, cons = {}, {}
        for name, device in (("good", dev_good), ("gone", dev_gone)):
            con = posix_connection(device)
            assert ok(p.connectStorageServer(6, BLANK, [con]))["statuslist"][0][
                "status"] == 0
            sd_uuid = new_uuid()
            ok(p.createStorageDomain(6, sd_uuid, name, device, 1))
            ok(p.startMonitoringDomain(sd_uuid, 0))
            domains[name], cons[name] = sd_uuid, con
        good, gone = domains["good"], domains["gone"]

        def stats():
            return ok(p.repoStats())["info"]

        wait_for(lambda: all(stats().get(d, {}).get("actual") for d in (good, gone)),
                 10, "first checks")
        assert stats()[gone]["valid"] and stats()[good]["valid"]

        commands.run(["umount", "-l", mountpoint_of(dev_gone)], timeout=30)
        start = time.monotonic()
        wait_for(lambda: not stats()[gone]["valid"], 10 * CHECK_INTERVAL,
                 "the unmounted domain invalid")
        assert time.monotonic() - start < 10 * CHECK_INTERVAL
        later = stats()
        assert later[gone]["code"] != 0
        assert later[good]["valid"] and float(later[good]["lastCheck"]) < 2

        for call in (p.ping, p.repoStats, lambda: p.getStorageDomainInfo(good),
                     lambda: p.getStorageDomainStats(good),
                     lambda: p.getStorageDomainInfo(gone),
                     lambda: p.getStorageDomainStats(gone)):
            answer, elapsed = timed(call)
            assert elapsed < 1.0, (answer, elapsed)
        assert timed(lambda: p.getStorageDomainStats(gone))[0]["status"]["code"] != 0

        for sd_uuid in (good, gone):
            ok(p.stopMonitoringDomain(sd_uuid))
        ok(p.disconnectStorageServer(6, BLANK, [cons["good"]]))
        p.disconnectStorageServer(6, BLANK, [cons["gone"]])  # already gone
