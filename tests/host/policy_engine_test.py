"""The engine's cycle with recorded host figures and an in-memory guests
seam (a unit-test aid: tests/virt/policyguests_test.py runs it for real
against supervdsmd, sysfs and a TCG guest)."""

from __future__ import annotations

import logging

import pytest

from vdsm.common.errors import MOMPolicyUpdateFailed
from vdsm.host.policy import hostfigures
from vdsm.host.policy.engine import PolicyEngine
from vdsm.host.policy.interp import PolicyRuntimeError
from vdsm.supervdsm.errors import KSMUpdateFailed
from vdsm.virt.errors import BalloonError

HOST = {"mem_available": 1_000_000, "mem_free": 900_000, "swap_total": 0,
        "swap_free": 0, "io_pressure": 0.0, "ksm_run": 0,
        "ksm_pages_to_scan": 100, "ksm_sleep_millisecs": 20,
        "ksm_pages_shared": 0, "ksm_pages_sharing": 0,
        "ksm_merge_across_nodes": 1}


class Guests:
    def __init__(self):
        self.vms = {"a": {"id": "a", "balloon_cur": 98304, "balloon_max": 98304,
                          "balloon_min": 81920, "balloon_target": 98304,
                          "mem_used": 20000, "mem_unused": 70000,
                          "io_policy": 0, "io_choice": None}}
        self.calls = []
        self.fail = None

    def records(self):
        return [dict(r) for r in self.vms.values()]

    def set_balloon_target(self, vm_id, kib):
        if self.fail:
            raise self.fail
        self.calls.append(("balloon", vm_id, kib))
        self.vms[vm_id]["balloon_target"] = kib

    def set_io_choice(self, vm_id, choice):
        self.calls.append(("io", vm_id, choice))
        self.vms[vm_id]["io_choice"] = choice


@pytest.fixture
def rig():
    host = dict(HOST)
    ksm_calls = []

    def tune_ksm(**values):
        ksm_calls.append(values)
        for k, v in values.items():
            host[f"ksm_{k}"] = v
        return values

    guests = Guests()
    engine = PolicyEngine(interval=15, tune_ksm=tune_ksm, guests=guests,
                          read_host=lambda: dict(host))
    return engine, host, ksm_calls, guests


def test_only_changes_applied_once(rig):
    engine, host, ksm_calls, guests = rig
    assert engine.run_cycle() == {"ksm": {}, "guests": {}}   # nothing to do
    engine.set_parameters({"pressure_threshold": 1.0, "ksm_free_percent": 1.0,
                           "max_balloon_change_percent": 0.9})
    changes = engine.run_cycle()
    assert changes["ksm"]["run"] == 1 and ksm_calls[-1]["run"] == 1
    assert changes["guests"] == {"a": {"balloon_target": 81920}}
    guests.vms["a"]["balloon_cur"] = 81920
    changes = engine.run_cycle()
    assert "run" not in changes["ksm"]          # already running
    assert changes["guests"] == {}              # target unchanged: no call
    assert [c for c in guests.calls if c[0] == "balloon"] == [
        ("balloon", "a", 81920)]


def test_guaranteed_memory_is_a_hard_floor(rig):
    engine, _, _, guests = rig
    engine.set_policy('(with Guests g (g.Control "balloon_target" 1024))')
    assert engine.run_cycle()["guests"] == {"a": {"balloon_target": 81920}}
    engine.set_policy('(with Guests g (g.Control "balloon_target" 1e9))')
    assert engine.run_cycle()["guests"] == {"a": {"balloon_target": 98304}}


def test_malformed_policy_refused_old_one_stays(rig):
    engine, _, _, guests = rig
    engine.set_policy('(with Guests g (g.Control "balloon_target" 90000))')
    with pytest.raises(MOMPolicyUpdateFailed, match=r"line 3: unknown function"):
        engine.set_policy("(defvar a 1)\n\n(explode a)")
    assert engine.run_cycle()["guests"] == {"a": {"balloon_target": 90000}}


@pytest.mark.parametrize("values", [
    {"bad name": 1}, {"x": "abc"}, {"x": [1]}, {"x": None}, "notamap"])
def test_bad_parameters_refused_nothing_set(rig, values):
    engine = rig[0]
    engine.set_parameters({"keep": 1})
    with pytest.raises(MOMPolicyUpdateFailed):
        engine.set_parameters(values)
    assert engine.policy()[1] == {"keep": 1}


def test_parameters_accept_numbers_booleans_numeric_strings(rig):
    engine = rig[0]
    engine.set_parameters({"a": True, "b": 2, "c": 0.5, "d": "3", "e": "0.25"})
    assert engine.policy()[1] == {"a": 1, "b": 2, "c": 0.5, "d": 3, "e": 0.25}


def test_failing_policy_applies_nothing(rig):
    engine, _, ksm_calls, guests = rig
    engine.set_policy('(Host.Control "ksm_run" 1)\n(defvar x (/ 1 0))')
    with pytest.raises(PolicyRuntimeError, match="line 2"):
        engine.run_cycle()
    assert ksm_calls == [] and guests.calls == []


def test_action_failure_logged_once(rig, caplog):
    engine, _, _, guests = rig
    guests.fail = BalloonError("Balloon operation is not available: gone")
    engine.set_policy('(with Guests g (g.Control "balloon_target" 90000))')
    with caplog.at_level(logging.WARNING, logger="vdsm.host.policy.engine"):
        for _ in range(3):
            assert engine.run_cycle()["guests"] == {}
    assert len([r for r in caplog.records if "gone" in r.message]) == 1


def test_ksm_failure_logged_not_raised(rig, caplog):
    engine = rig[0]

    def refuse(**values):
        raise KSMUpdateFailed("Failed to update KSM values: EBUSY")
    engine._tune_ksm = refuse
    engine.set_policy('(Host.Control "ksm_run" 1)')
    with caplog.at_level(logging.WARNING, logger="vdsm.host.policy.engine"):
        assert engine.run_cycle()["ksm"] == {}
    assert "EBUSY" in caplog.text


def test_io_choice_follows_io_pressure(rig):
    engine, host, _, guests = rig
    guests.vms["a"]["io_policy"] = 1
    assert engine.run_cycle()["guests"]["a"] == {"io_tune": "maximum"}
    host["io_pressure"] = 42.0
    assert engine.run_cycle()["guests"]["a"] == {"io_tune": "guaranteed"}
    assert engine.run_cycle()["guests"] == {}
    engine.set_parameters({"ioTuneEnabled": False})
    assert engine.run_cycle()["guests"] == {}


def test_psi_parsing():
    text = ("some avg10=12.50 avg60=3.00 avg300=1.00 total=1\n"
            "full avg10=1.00 avg60=0.00 avg300=0.00 total=1\n")
    assert hostfigures.parse_psi(text) == 12.5
    assert hostfigures.parse_psi("") == 0.0


def test_real_host_figures():
    figures = hostfigures.read()
    assert 0 < figures["mem_free"] <= figures["mem_available"]
    assert figures["ksm_pages_to_scan"] >= 0
