"""The fencing policy's decision (the real sanlock case is
fencing_agent_test's)."""

from __future__ import annotations

from vdsm.host.fencing import policy

SD = "11111111-2222-3333-4444-555555555555"


def test_no_policy_or_map_fences():
    assert policy.decide(None, None).fence
    assert policy.decide({}, None).fence
    assert policy.decide({"storageDomainHostIdMap": {}}, None).fence


def test_live_lease_skips():
    decision = policy.decide({"storageDomainHostIdMap": {SD: 2}},
                             lambda ids: {SD: "live"})
    assert not decision.fence and "host id 2 is live" in decision.reason


def test_other_statuses_fence():
    for status in ("free", "dead", "fail", "unknown"):
        assert policy.decide({"storageDomainHostIdMap": {SD: 2}},
                             lambda ids, s=status: {SD: s}).fence


def test_unreadable_or_uncheckable_fences():
    def broken(ids):
        raise RuntimeError("sanlock gone")
    assert policy.decide({"storageDomainHostIdMap": {SD: 2}}, broken).fence
    assert policy.decide({"storageDomainHostIdMap": {SD: 2}}, None).fence
    assert policy.decide({"storageDomainHostIdMap": {SD: "x"}},
                         lambda ids: {SD: "live"}).fence
