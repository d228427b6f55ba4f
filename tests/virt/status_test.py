"""Status names, exit reasons and the lifecycle-event status machine."""

from __future__ import annotations

from vdsm.virt import status as st
from vdsm.virt import vmparams
from vdsm.virt.vm import Vm

VM_ID = "11111111-2222-3333-4444-555555555555"


def _vm(status=st.WAIT_FOR_LAUNCH, **params):
    return Vm(vmparams.parse({"vmId": VM_ID, "memSize": 64, **params}),
              status=status)


def test_exit_reasons():
    assert st.stopped_reason(st.STOPPED_SHUTDOWN, expected=None) == st.USER_SHUTDOWN
    assert st.stopped_reason(st.STOPPED_SHUTDOWN,
                             expected=st.ADMIN_SHUTDOWN) == st.ADMIN_SHUTDOWN
    assert st.stopped_reason(st.STOPPED_CRASHED,
                             expected=st.ADMIN_SHUTDOWN) == st.LOST_QEMU_CONNECTION
    assert st.stopped_reason(st.STOPPED_FAILED, expected=None) == \
        st.LOST_QEMU_CONNECTION
    assert st.stopped_reason(st.STOPPED_SAVED, expected=None) == \
        st.SAVE_STATE_SUCCEEDED
    assert st.exit_info(st.USER_SHUTDOWN).code == st.NORMAL
    assert st.exit_info(st.LOST_QEMU_CONNECTION).code == st.ERROR
    assert st.pause_code("enospc") == "ENOSPC" and st.pause_code("?") == "EOTHER"


def test_event_status_machine():
    vm = _vm()
    assert vm.status == st.WAIT_FOR_LAUNCH
    vm.on_lifecycle(st.EV_STARTED, 0)     # the start thread decides first
    assert vm.status == st.WAIT_FOR_LAUNCH
    vm.set_status(st.POWERING_UP)
    vm.on_lifecycle(st.EV_STARTED, 0)
    assert vm.status == st.UP
    vm.on_io_error("ua-d1", 1, "enospc")
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    assert vm.status == st.PAUSED and vm.pause_code == "ENOSPC"
    vm.on_lifecycle(st.EV_RESUMED, 0)
    assert vm.status == st.UP and vm.pause_code == "NOERR"
    vm.on_lifecycle(st.EV_SHUTDOWN, 0)
    assert vm.status == st.POWERING_DOWN
    assert vm.on_lifecycle(st.EV_STOPPED, st.STOPPED_SHUTDOWN) is True
    assert vm.status == st.DOWN
    assert vm.exit.as_stats() == {"exitCode": 0, "exitReason": st.USER_SHUTDOWN,
                                  "exitMessage": st.EXIT_MESSAGES[st.USER_SHUTDOWN]}
    # Down is final.
    vm.on_lifecycle(st.EV_STARTED, 0)
    assert vm.status == st.DOWN
    assert vm.on_lifecycle(st.EV_STOPPED, st.STOPPED_DESTROYED) is False


def test_saving_state_not_turned_paused():
    vm = _vm(status=st.UP)
    vm.set_status(st.SAVING_STATE)
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_PAUSED)
    assert vm.status == st.SAVING_STATE


def test_launch_paused_and_wait():
    vm = _vm(launchPaused="true", status=st.POWERING_UP)
    vm.on_lifecycle(st.EV_STARTED, 0)
    assert vm.status == st.PAUSED
    assert vm.wait_status((st.PAUSED,), 0.01)
    assert not vm.wait_status((st.UP,), 0.01)
