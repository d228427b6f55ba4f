"""StatAvg: the mean of a figure over the last cycles (classic MOM's
sample-history-length, 10), pure."""

from __future__ import annotations

import pytest

from vdsm.host.policy import entities, history, lang
from vdsm.host.policy.engine import PolicyEngine
from vdsm.host.policy.history import History
from vdsm.host.policy.interp import Interpreter


def stat_avg(samples, name):
    host = entities.host(samples[-1], samples)
    Interpreter(lang.parse(f'(defvar x (Host.StatAvg "{name}"))')).run(
        {"Host": host})
    return host.call("StatAvg", [name]), host.call("Stat", [name])


def test_average_over_kept_samples_only():
    h = History()
    for value in range(1, 16):           # 15 cycles, 10 kept: 6..15
        samples = h.add("host", {"mem_free": value})
    assert len(samples) == history.LENGTH == 10
    assert stat_avg(samples, "mem_free") == (10.5, 15)


def test_missing_values_skipped_and_unknown_is_none():
    samples = [{"a": 1}, {"a": None}, {}, {"a": 3}, {"a": True}]
    assert history.average(samples, "a") == 2
    assert history.average(samples, "b") is None
    assert stat_avg([{"a": 4}], "b") == (None, None)


def test_first_cycle_is_the_figure_itself():
    assert stat_avg([{"a": 7}], "a") == (7, 7)


def test_gone_guests_forgotten():
    h = History(length=3)
    h.add("vm:a", {"x": 1})
    h.add("vm:b", {"x": 100})
    h.keep_only(["vm:a"])
    assert list(h.add("vm:b", {"x": 2})) == [{"x": 2}]
    assert len(h.add("vm:a", {"x": 1})) == 2


def test_bad_length_refused():
    with pytest.raises(ValueError):
        History(length=0)


def test_engine_averages_across_cycles():
    """A policy steering on StatAvg sees a spike damped by the history."""
    host = {"mem_available": 100, "mem_free": 90, "ksm_run": 0}
    engine = PolicyEngine(interval=15, tune_ksm=lambda **v: host.update(
        {f"ksm_{k}": x for k, x in v.items()}), read_host=lambda: dict(host))
    engine.set_policy('(Host.Control "ksm_run" '
                      '(< (Host.StatAvg "mem_free") 50))')
    for _ in range(9):
        engine.run_cycle()
    host["mem_free"] = 0                 # one low reading: mean 81, no KSM
    assert engine.run_cycle()["ksm"] == {}
    for _ in range(4):                   # five low of ten: mean 45
        changes = engine.run_cycle()
    assert changes["ksm"] == {"run": 1}
