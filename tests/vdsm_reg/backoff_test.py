"""Back-off arithmetic: growth, cap, jitter bounds, deadline."""

from __future__ import annotations

import itertools

from vdsm_reg import backoff


def test_delays_double_up_to_the_cap_within_jitter():
    low = list(itertools.islice(backoff.delays(1, 8, rand=lambda: 0.0), 6))
    high = list(itertools.islice(backoff.delays(1, 8, rand=lambda: 1.0), 6))
    assert low == [0.5, 1, 2, 4, 4, 4]
    assert high == [1, 2, 4, 8, 8, 8]


def test_schedule_stops_at_the_deadline_and_cuts_the_last_delay():
    now = [0.0]
    out = []
    for delay in backoff.schedule(1, 8, 5.0, clock=lambda: now[0],
                                  rand=lambda: 1.0):
        out.append(delay)
        now[0] += delay
    assert out == [1, 2, 2]


def test_schedule_without_deadline_never_ends():
    it = backoff.schedule(1, 2, 0, rand=lambda: 0.5)
    assert len(list(itertools.islice(it, 100))) == 100
