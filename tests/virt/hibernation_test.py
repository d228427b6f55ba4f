"""Hibernate to a file and restore: the guest carries on where it stopped."""

from __future__ import annotations

import os

from .harness import (
    BOOT_MARK,
    stats,
    uptime,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from .lifecycle_test import _create


def test_hibernate_then_restore_keeps_memory_state(virt_agent, guest, tmp_path):
    params = vm_params(guest, memSize=96)
    vm_id = params["vmId"]
    state = str(tmp_path / "memory.state")
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        wait_for(lambda: uptime(virt_agent, vm_id) >= 3.0, 30, "uptime 3 s")
        answer = virt_agent.proxy.hibernate(vm_id, state)
        assert answer["status"]["code"] == 0, answer
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=30)
        assert down["exitReason"] == 5 and down["exitCode"] == 0
        assert os.path.getsize(state) > 0
        before = uptime(virt_agent, vm_id)
        # As the engine does: clear the Down VM, then create with restoreState.
        assert virt_agent.proxy.destroy(vm_id)["status"]["code"] == 0

        answer = virt_agent.proxy.create(dict(params, restoreState=state))
        assert answer["status"]["code"] == 0, answer
        wait_status(virt_agent.proxy, vm_id, "Up", timeout=30)
        wait_for(lambda: uptime(virt_agent, vm_id) > before, 20,
                 "the uptime counter to move on")
        after = uptime(virt_agent, vm_id)
        # Same boot: the counter continued instead of starting over.
        assert before < after < before + 15
        assert virt_agent.console(vm_id).count(BOOT_MARK) == 1
        assert stats(virt_agent.proxy, vm_id)["status"] == "Up"
    finally:
        virt_agent.proxy.destroy(vm_id)


def test_restore_from_missing_file_refused(virt_agent, guest, tmp_path):
    params = vm_params(guest, restoreState=str(tmp_path / "none"))
    answer = virt_agent.proxy.create(params)
    assert answer["status"]["code"] == 13, answer
    assert virt_agent.proxy.getVmStats(params["vmId"])["status"]["code"] == 1
