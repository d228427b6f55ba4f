"""The migrate request as the classic callers send it (pure: no libvirt)."""

from __future__ import annotations

import threading

import pytest

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.virt.migration import jobstats
from vdsm.virt.migration.limits import Slots
from vdsm.virt.migration.params import (
    Action,
    StallStep,
    default_schedule,
    parse,
    parse_dst,
)

VM = "c1d2e3f4-0000-4000-8000-000000000001"


def test_vdsclient_strings_are_converted():
    req = parse({"vmId": VM, "dst": "10.0.0.2:54321", "method": "online",
                 "downtime": "250", "maxBandwidth": "64",
                 "autoConverge": "true", "compressed": "false",
                 "abortOnError": "True", "outgoingLimit": "3",
                 "dstqemu": " 192.168.5.2 "}, VM)
    assert (req.dst_host, req.dst_port, req.dstqemu) == ("10.0.0.2", 54321,
                                                         "192.168.5.2")
    assert (req.downtime, req.max_bandwidth, req.outgoing_limit) == (250, 64, 3)
    assert req.auto_converge and req.abort_on_error and not req.compressed
    assert req.schedule is None


@pytest.mark.parametrize("dst,host,port", [
    ("host.example", "host.example", 54321),
    ("10.1.2.3:1234", "10.1.2.3", 1234),
    ("[fd00::2]:4000", "fd00::2", 4000),
    ("[fd00::2]", "fd00::2", 54321),
    ("fd00::2", "fd00::2", 54321),
])
def test_dst_forms(dst, host, port):
    assert parse_dst(dst) == (host, port)


@pytest.mark.parametrize("params,error", [
    ({}, MissingParameter),
    ({"dst": "h", "method": "offline"}, InvalidParameter),
    ({"dst": "h", "mode": "file"}, InvalidParameter),
    ({"dst": "h:notaport"}, InvalidParameter),
    ({"dst": "h", "downtime": "0"}, InvalidParameter),
    ({"dst": "h", "maxBandwidth": "-1"}, InvalidParameter),
    ({"dst": "h", "tunneled": "maybe"}, InvalidParameter),
    ({"dst": "h", "convergenceSchedule": "fast"}, InvalidParameter),
    ({"dst": "h", "convergenceSchedule": {"init": [{"name": "explode"}]}},
     InvalidParameter),
    ({"dst": "h", "convergenceSchedule": {"init": [{"name": "setDowntime"}]}},
     InvalidParameter),
    ({"dst": "h", "convergenceSchedule": {"stalling": [{"limit": 1}]}},
     InvalidParameter),
])
def test_bad_requests_are_refused_with_the_key_named(params, error):
    with pytest.raises(error):
        parse({"vmId": VM, **params}, VM)


def test_engine_convergence_schedule():
    req = parse({"vmId": VM, "dst": "h", "convergenceSchedule": {
        "init": [{"name": "setDowntime", "params": ["100"]}],
        "stalling": [
            {"limit": 1, "action": {"name": "setDowntime", "params": ["150"]}},
            {"limit": 3, "action": {"name": "setDowntime", "params": ["300"]}},
            {"limit": -1, "action": {"name": "abort", "params": []}}]}}, VM)
    assert req.schedule is not None
    assert req.schedule.init == (Action("setDowntime", 100),)
    assert req.schedule.stalling == (
        StallStep(1, Action("setDowntime", 150)),
        StallStep(3, Action("setDowntime", 300)),
        StallStep(-1, Action("abort")))
    assert not req.schedule.uses_postcopy


def test_default_schedule_rises_from_half_to_the_maximum_in_steps():
    schedule = default_schedule(500, 5)
    assert schedule.init == (Action("setDowntime", 250),)
    assert [s.action.value for s in schedule.stalling] == [312, 375, 437, 500]
    assert [s.limit for s in schedule.stalling] == [1, 2, 3, 4]
    assert default_schedule(1, 10).init == (Action("setDowntime", 1),)


def test_progress_from_job_stats():
    running = {"type": 2, "data_total": 1000, "data_remaining": 250,
               "memory_iteration": 1}
    assert jobstats.progress(running) == 75
    assert jobstats.progress({**running, "data_remaining": 0}) == 99
    assert jobstats.started(running)
    assert not jobstats.started({**running, "data_remaining": 0})  # setup
    assert not jobstats.running({"type": 0})
    assert jobstats.summary(running) == {"dataRemaining": 250,
                                         "dataTotal": 1000,
                                         "memoryIteration": 1}


def test_slots_bound_changes_and_cancelled_wait():
    slots = Slots(1)
    assert slots.try_acquire()
    assert not slots.try_acquire()
    cancelled = threading.Event()
    result = []
    waiter = threading.Thread(
        target=lambda: result.append(slots.acquire(10, cancelled.is_set)))
    waiter.start()
    cancelled.set()
    slots.wake()
    waiter.join(5)
    assert result == [False]
    slots.set_bound(2)
    assert slots.try_acquire()
    slots.release()
    slots.release()
    assert slots.used == 0
    slots.release()      # never below zero
    assert slots.used == 0
