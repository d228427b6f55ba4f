"""Vm's status machine publishes every change (no libvirt daemon)."""

from __future__ import annotations

import uuid

from tests.eventrec import Raising, Recorder
from vdsm.virt import status as st
from vdsm.virt import vmparams
from vdsm.virt.vm import Vm


def _vm(publisher) -> Vm:
    params = {"vmId": str(uuid.uuid4()), "vmName": "events", "memSize": 64}
    return Vm(vmparams.parse(params), publisher=publisher)


def _statuses(rec: Recorder, vm: Vm) -> list[str]:
    return [p[vm.id]["status"] for p in rec.of(f"|virt|VM_status|{vm.id}")]


def test_every_transition_is_published_once():
    rec = Recorder()
    vm = _vm(rec)
    vm.publish_status()
    vm.set_status(st.POWERING_UP)
    vm.on_lifecycle(st.EV_STARTED, 0)
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_PAUSED)
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_PAUSED)  # no change
    vm.on_lifecycle(st.EV_RESUMED, 0)
    vm.expected_exit = st.ADMIN_SHUTDOWN
    vm.on_lifecycle(st.EV_STOPPED, st.STOPPED_DESTROYED)
    vm.set_status(st.UP)  # Down is final: nothing published
    assert _statuses(rec, vm) == [st.WAIT_FOR_LAUNCH, st.POWERING_UP, st.UP,
                                  st.PAUSED, st.UP, st.DOWN]
    down = rec.of(f"|virt|VM_status|{vm.id}")[-1][vm.id]
    assert down["exitCode"] == st.NORMAL
    assert down["exitReason"] == st.ADMIN_SHUTDOWN
    assert down["exitMessage"] == st.EXIT_MESSAGES[st.ADMIN_SHUTDOWN]


def test_paused_carries_its_pause_code():
    rec = Recorder()
    vm = _vm(rec)
    vm.set_status(st.UP)
    vm.on_io_error("ua-disk", 1, "enospc")
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    assert rec.of(f"|virt|VM_status|{vm.id}")[-1][vm.id]["pauseCode"] == "ENOSPC"


def test_crash_is_down_with_an_error_reason():
    rec = Recorder()
    vm = _vm(rec)
    vm.set_status(st.UP)
    assert vm.on_lifecycle(st.EV_STOPPED, st.STOPPED_CRASHED)
    down = rec.of(f"|virt|VM_status|{vm.id}")[-1][vm.id]
    assert down["status"] == st.DOWN
    assert down["exitCode"] == st.ERROR
    assert down["exitReason"] == st.LOST_QEMU_CONNECTION


def test_a_broken_publisher_does_not_stop_the_status():
    broken = Raising()
    vm = _vm(broken)
    assert vm.set_status(st.UP)
    assert vm.set_status(st.DOWN, exit=st.exit_info(st.USER_SHUTDOWN))
    assert vm.status == st.DOWN and broken.calls == 2


def test_destroy_is_no_power_down():
    rec = Recorder()
    vm = _vm(rec)
    vm.set_status(st.UP)
    vm.destroying = True
    vm.on_lifecycle(st.EV_SHUTDOWN, 0)  # QEMU got SIGTERM
    assert vm.status == st.UP
    vm.destroying = False
    vm.on_lifecycle(st.EV_SHUTDOWN, 0)  # the guest powers off
    assert vm.status == st.POWERING_DOWN
