"""VM status events pushed over STOMP, driven over JSON-RPC, with real guests."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from vdsm.common import pki
from vdsm_cli.jsonrpc_client import StompClient

from .harness import vm_params, wait_for
from .lifecycle_test import _qemu_pid


class Events:
    """VM_status events of the VMs a test watches, in arrival order."""

    def __init__(self, agent) -> None:
        p = agent.root.pki
        ctx = pki.client_context(p.ca_cert, p.client_cert("engine"),
                                 p.client_key("engine"))
        self.client = StompClient("127.0.0.1", agent.port, ssl_context=ctx,
                                  timeout=60)
        self._lock = threading.Lock()
        self.received: list[dict] = []
        self.client.subscribe("jms.queue.events", self._on_event)
        self.client.call("Host.ping2")  # the subscription is in place

    def _on_event(self, frame) -> None:
        event = json.loads(frame.body)
        with self._lock:
            self.received.append(event)

    def statuses(self, vm_id: str) -> list[dict]:
        with self._lock:
            return [e["params"][vm_id] for e in self.received
                    if e["method"] == f"|virt|VM_status|{vm_id}"]

    def wait_status(self, vm_id: str, status: str, count: int = 1,
                    timeout: float = 30.0) -> dict:
        def seen():
            found = [s for s in self.statuses(vm_id) if s["status"] == status]
            return found[count - 1] if len(found) >= count else None
        return wait_for(seen, timeout, f"event {status} #{count} of {vm_id}")


@pytest.fixture
def events(virt_agent):
    ev = Events(virt_agent)
    yield ev
    ev.client.close()


def _squeezed(statuses: list[str]) -> list[str]:
    out: list[str] = []
    for s in statuses:
        if not out or out[-1] != s:
            out.append(s)
    return out


def test_status_events_through_a_life_cycle(virt_agent, guest, events):
    c = events.client
    params = vm_params(guest)
    vm_id = params["vmId"]
    created = c.call("VM.create", {"vmParams": params})
    assert created["vmId"] == vm_id
    try:
        events.wait_status(vm_id, "Up")
        assert c.call("VM.pause", {"vmID": vm_id}) is True
        events.wait_status(vm_id, "Paused")
        assert c.call("VM.cont", {"vmID": vm_id}) is True
        events.wait_status(vm_id, "Up", count=2)
    finally:
        c.call("VM.destroy", {"vmID": vm_id})
    down = events.wait_status(vm_id, "Down")
    seq = _squeezed([s["status"] for s in events.statuses(vm_id)])
    assert seq[-4:] == ["Up", "Paused", "Up", "Down"], seq
    assert seq[0] in ("WaitForLaunch", "Powering up", "Up"), seq
    assert "exitCode" in down and "exitReason" in down


def test_down_event_with_reason_when_qemu_is_killed(virt_agent, guest, events):
    c = events.client
    params = vm_params(guest)
    vm_id = params["vmId"]
    c.call("VM.create", {"vmParams": params})
    try:
        events.wait_status(vm_id, "Up")
        os.kill(_qemu_pid(virt_agent, vm_id), signal.SIGKILL)
        down = events.wait_status(vm_id, "Down", timeout=10)
        assert down["exitCode"] == 1
        assert down["exitReason"] == 2  # lost QEMU
        assert down["exitMessage"]
    finally:
        c.call("VM.destroy", {"vmID": vm_id})
