"""The convergence policy, fed with job statistics (pure)."""

from __future__ import annotations

from vdsm.virt.migration.convergence import ABORT_STALLED, ABORT_TIMEOUT, Convergence
from vdsm.virt.migration.params import Action, Schedule, StallStep, default_schedule


def _policy(schedule, *, max_downtime=500, progress_timeout=30.0, budget=None):
    return Convergence(schedule, max_downtime=max_downtime,
                       progress_timeout=progress_timeout, time_budget=budget,
                       started=0.0)


def test_progress_fires_nothing_and_stalls_raise_downtime_in_steps():
    policy = _policy(default_schedule(500, 5))
    assert policy.initial() == (Action("setDowntime", 250),)
    assert policy.observe(1, 1000).actions == ()
    assert policy.observe(2, 900).actions == ()
    # stalled: remaining not below the lowest seen (900)
    assert policy.observe(3, 950).actions == (Action("setDowntime", 312),)
    assert policy.observe(4, 920).actions == (Action("setDowntime", 375),)
    # progress resets the stall count; the next stall goes on from there
    assert policy.observe(5, 100).actions == ()
    assert policy.observe(6, 300).actions == ()   # count 1: step 1 done
    assert policy.observe(7, 300).actions == ()   # count 2: done
    assert policy.observe(8, 300).actions == (Action("setDowntime", 437),)
    assert policy.downtime == 437


def test_with_memory_passes_only_a_new_pass_without_a_new_low_stalls():
    policy = _policy(default_schedule(500, 5))
    assert policy.observe(1, 1000, 1).actions == ()
    # the first pass, slowly sending: no new low at this look, same pass
    assert policy.observe(2, 1000, 1).actions == ()
    assert policy.stalled_looks == 0
    # a later pass and still no new low: stalled
    assert policy.observe(3, 1200, 2).actions == (Action("setDowntime", 312),)
    assert policy.observe(4, 1100, 2).actions == ()     # same pass
    assert policy.observe(5, 1100, 7).actions == (Action("setDowntime", 375),)
    assert policy.observe(6, 10, 8).actions == ()       # progress


def test_requested_maximum_caps_the_schedule():
    schedule = Schedule(init=(Action("setDowntime", 800),),
                        stalling=(StallStep(1, Action("setDowntime", 2000)),))
    policy = _policy(schedule, max_downtime=300)
    assert policy.initial() == (Action("setDowntime", 300),)
    policy.observe(1, 10)
    assert policy.observe(2, 10).actions == (Action("setDowntime", 300),)


def test_schedule_abort_after_the_others():
    schedule = Schedule(stalling=(StallStep(1, Action("setDowntime", 100)),
                                  StallStep(-1, Action("abort"))))
    policy = _policy(schedule)
    policy.observe(1, 10)
    first = policy.observe(2, 10)
    assert first.actions == (Action("setDowntime", 100),) and not first.abort
    second = policy.observe(3, 10)
    assert second.abort == "schedule"


def test_no_progress_for_the_timeout_aborts():
    policy = _policy(Schedule(), progress_timeout=5)
    policy.observe(1, 10)
    assert policy.observe(5, 11).abort is None
    decision = policy.observe(6.5, 12)
    assert decision.abort == ABORT_STALLED
    assert "no progress for 6 s" in decision.message


def test_time_budget_aborts_even_with_progress():
    policy = _policy(Schedule(), budget=10)
    assert policy.observe(9, 100).abort is None
    decision = policy.observe(10.5, 50)
    assert decision.abort == ABORT_TIMEOUT
    assert "budget of 10 s" in decision.message
