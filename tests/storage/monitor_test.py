"""Domain monitoring with a domain whose storage hangs.

Two local domains, one behind freezefs (a FUSE pass-through). When the
FUSE daemon is stopped, the domain's checks hang in its I/O helper
process: repoStats shows it invalid with a growing lastCheck, while ping,
repoStats and the other domain's verbs keep answering in well under 1 s.
When the daemon goes on, the domain is valid again. Each change of
validity is published as a domain_state event.
"""

from __future__ import annotations

import time

import pytest

from tests.storage import fusefs
from tests.storage.helpers import (
    BLANK,
    ok,
    wait_for,
)
from tests.storage.hungdomain import hung_domain_rig

WHY = fusefs.unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"freezefs: {WHY}")


@pytest.fixture
def agent_with_domains():
    with hung_domain_rig() as rig:
        yield rig.root, rig.fs, rig.domains, rig.events


def timed(call):
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


def test_hung_domain_turns_invalid_while_others_answer(agent_with_domains):
    root, fs, domains, events = agent_with_domains
    good, hung = domains["good"], domains["hung"]
    p = root.proxy()

    def stats():
        return ok(p.repoStats())["info"]

    wait_for(lambda: all(stats().get(d, {}).get("actual") for d in (good, hung)),
             10, "first checks")
    assert stats()[hung]["valid"] and stats()[good]["valid"]
    assert stats()[hung]["version"] == 5

    fs.freeze()
    try:
        wait_for(lambda: not stats()[hung]["valid"], 15, "the hung domain invalid")
        first = float(stats()[hung]["lastCheck"])
        time.sleep(1.0)
        later = stats()
        assert not later[hung]["valid"]
        assert later[hung]["code"] == 3  # AccessTimeout
        assert float(later[hung]["lastCheck"]) >= first + 0.8  # growing
        assert later[good]["valid"] and float(later[good]["lastCheck"]) < 2

        for call in (lambda: p.ping(), lambda: p.repoStats(),
                     lambda: p.getStorageDomainInfo(good),
                     lambda: p.getStorageDomainStats(good),
                     lambda: p.getImagesList(good),
                     lambda: p.getVolumesList(good, BLANK)):
            answer, elapsed = timed(call)
            assert answer["status"]["code"] == 0, answer
            assert elapsed < 1.0, (answer, elapsed)
        # the hung domain's own verbs fail after the I/O timeout, not hang
        answer, elapsed = timed(lambda: p.getStorageDomainStats(hung))
        assert answer["status"]["code"] == 3 and elapsed < 5
    finally:
        fs.thaw()
    wait_for(lambda: stats()[hung]["valid"], 15, "the domain valid again")
    assert float(stats()[hung]["lastCheck"]) < 2

    def states(sd_uuid):
        return [(p[sd_uuid]["valid"], p[sd_uuid]["code"])
                for p in events.of(f"|storage|domain_state|{sd_uuid}")]

    assert states(good) == [(True, 0)]
    assert states(hung) == [(True, 0), (False, 3), (True, 0)]
