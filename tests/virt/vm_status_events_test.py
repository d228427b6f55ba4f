"""VM_status events from real TCG guests, as a binding would receive them
(a sink subscribed to the agent's notifier)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from tests.eventrec import Recorder

from .harness import vm_params, wait_booted, wait_status
from .lifecycle_test import _create, _qemu_pid


@pytest.fixture
def events(virt_agent):
    rec = Recorder()
    unsubscribe = virt_agent.agent.notifier.subscribe(rec)
    yield rec
    unsubscribe()


def _vm_events(rec: Recorder, vm_id: str) -> list[dict[str, Any]]:
    return [p[vm_id] for p in rec.of(f"|virt|VM_status|{vm_id}")]


def _statuses(rec: Recorder, vm_id: str) -> list[str]:
    return [e["status"] for e in _vm_events(rec, vm_id)]


def _wait_last(rec: Recorder, vm_id: str, status: str) -> None:
    rec.wait(lambda _: _statuses(rec, vm_id)[-1:] == [status], 30,
             f"{vm_id} {status} event")


def test_status_sequence_create_pause_cont_destroy(virt_agent, guest, events):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        assert virt_agent.proxy.pause(vm_id)["status"]["code"] == 0
        _wait_last(events, vm_id, "Paused")
        assert virt_agent.proxy.cont(vm_id)["status"]["code"] == 0
        _wait_last(events, vm_id, "Up")
    finally:
        assert virt_agent.proxy.destroy(vm_id)["status"]["code"] == 0
    # destroy's SIGTERM to QEMU makes libvirt report a shutdown: no
    # "Powering down" for a destroy
    assert _statuses(events, vm_id) == [
        "WaitForLaunch", "Powering up", "Up", "Paused", "Up", "Down"]
    paused = _vm_events(events, vm_id)[3]
    assert paused["pauseCode"] == "NOERR"
    down = _vm_events(events, vm_id)[-1]
    assert (down["exitCode"], down["exitReason"]) == (0, 6)  # admin
    assert down["exitMessage"]


def test_kill_9_qemu_publishes_down_with_reason(virt_agent, guest, events):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        os.kill(_qemu_pid(virt_agent, vm_id), signal.SIGKILL)
        _wait_last(events, vm_id, "Down")
        down = _vm_events(events, vm_id)[-1]
        assert down["exitCode"] == 1
        assert down["exitReason"] == 2  # lost QEMU
        assert "killed or crashed" in down["exitMessage"]
        assert _statuses(events, vm_id) == [
            "WaitForLaunch", "Powering up", "Up", "Down"]
    finally:
        virt_agent.proxy.destroy(vm_id)
    assert _statuses(events, vm_id).count("Down") == 1
