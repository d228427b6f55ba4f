"""Smoke test of benchmarks/migration.py without the rig: its options,
the summary (medians, ratios, goal verdicts) and the table, from runs
written here in the shape the rig's runs have; and the agent log parsing.

    .venv/bin/python -m pytest benchmarks/migration_test.py
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import migration  # noqa: E402
from benchmarks.migration_runs import first_log_time  # noqa: E402


def _run(total: float, downtime: float, libvirt: float, **extra) -> dict:
    return {"total_ms": total, "downtime_ms": downtime, "libvirt_ms": libvirt,
            "own_ms": total - libvirt, "tail_ms": 1.0, **extra}


def test_options():
    args = migration.parse_args(["--runs", "1", "--sizes", "128",
                                 "--loads", "dirty", "--downtime", "100"])
    assert (args.runs, args.sizes, args.loads, args.downtime) == (
        1, [128], ["dirty"], 100)
    defaults = migration.parse_args([])
    assert defaults.sizes == [128, 512] and defaults.loads == ["idle", "dirty"]
    with pytest.raises(SystemExit):
        migration.parse_args(["--loads", "busy"])
    with pytest.raises(SystemExit):
        migration.parse_args(["--runs", "0"])


def test_summary_and_table():
    methods = {
        "agent": [_run(9000, 10, 8000, warmup=True, prepare_ms=40.0),
                  _run(1500, 100, 1200, prepare_ms=30.0),
                  _run(1700, 350, 1400, prepare_ms=50.0)],
        "agent_flat": [_run(1400, 120, 1150, prepare_ms=30.0),
                       {"error": "A->B not done in 40 s (progress 51%), cancelled"}],
        "virsh": [_run(1000, 50, 800, warmup=True),
                  _run(1400, 90, 1200), _run(1400, 110, 1200)],
    }
    res = migration.summarize({"mem_mib": 128, "load": "idle"}, methods,
                              max_downtime=300, planned=2)
    agent, flat, virsh = res["agent"], res["agent_flat"], res["virsh"]
    assert (agent["total_ms"], agent["downtime_ms"], agent["max_downtime_ms"],
            agent["prepare_ms"]) == (1600.0, 225.0, 350, 40.0)
    assert virsh["total_ms"] == 1400.0 and virsh["own_ms"] == 200.0
    assert agent["ratio"] == 1.14 and agent["adds_ms"] == 100.0
    assert agent["goals"] == {"total_le_1.1x_virsh": False,
                              "downtime_le_max_every_run": False,
                              "adds_lt_100ms": False}
    assert (flat["converged"], flat["runs"]) == (1, 2)
    assert flat["goals"]["downtime_le_max_every_run"] is False   # one failed
    assert flat["goals"]["total_le_1.1x_virsh"] is True
    none = migration.summarize({"mem_mib": 128, "load": "dirty"},
                               {**methods, "agent": methods["agent_flat"][1:]},
                               max_downtime=300, planned=2)
    assert set(none["agent"]["goals"].values()) == {None}
    text = migration.table([res], migration.parse_args(["--runs", "2"]))
    assert "128 MiB idle  agent_flat  1/2" in text
    assert "agent_flat: A->B not done in 40 s (progress 51%), cancelled" in text
    assert "128 MiB idle agent: adds 100 ms; total_le_1.1x_virsh NOT met" in text


def test_first_log_time_after_since():
    text = ("2026-11-29 12:32:08,421 t m: vm X: migrating to B\n"
            "not a log line: vm X: migrating to B\n"
            "2026-11-29 12:32:18,500 t m: vm X: migrating to A\n")
    first = first_log_time(text, "vm X: migrating to", 0)
    later = first_log_time(text, "vm X: migrating to", first + 1)
    assert later is not None and round(later - first, 3) == 10.079
    assert first_log_time(text, "vm Y:", 0) is None
