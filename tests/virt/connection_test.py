"""The libvirt connection comes back when libvirtd restarts."""

from __future__ import annotations

import os
import signal

import pytest

from vdsm.virt.connection import Connection, LibvirtUnavailable

from .harness import stats, vm_params, wait_for, wait_status
from .lifecycle_test import _create, _qemu_pid


@pytest.fixture(scope="module")
def libvirtd(own_libvirtd):
    """A libvirtd of this module's own: a test here restarts it."""
    return own_libvirtd


def test_unreachable_uri_is_a_clear_error(tmp_path):
    conn = Connection(f"qemu+unix:///system?socket={tmp_path}/none",
                      on_event=lambda *a: None)
    with pytest.raises(LibvirtUnavailable) as e:
        conn.open()
    assert "cannot connect" in e.value.message
    with pytest.raises(LibvirtUnavailable):
        conn.get()
    conn.close()


def test_libvirtd_restart_reconnects_and_events_still_flow(libvirtd,
                                                           virt_agent, guest):
    params = vm_params(guest, memSize=96)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        conn = virt_agent.virt.ctx.conn
        old = conn.get()
        libvirtd.restart_libvirtd()
        wait_for(lambda: conn.connected and conn.get() is not old, 20,
                 "the agent to reconnect")
        assert stats(virt_agent.proxy, vm_id)["status"] == "Up"
        assert virt_agent.proxy.pause(vm_id)["status"]["code"] == 0
        wait_status(virt_agent.proxy, vm_id, "Paused")
        # Events are registered on the new connection too.
        os.kill(_qemu_pid(None, vm_id), signal.SIGKILL)
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=10)
        assert down["exitReason"] == 2
    finally:
        virt_agent.proxy.destroy(vm_id)
