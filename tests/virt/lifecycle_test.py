"""VM life cycle on real TCG QEMU guests through the real API (XML-RPC)."""

from __future__ import annotations

import os
import signal

import libvirt
import pytest

from .harness import (
    stats,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)


def _create(agent, params):
    answer = agent.proxy.create(params)
    assert answer["status"]["code"] == 0, answer
    return answer["vmList"]


def _domain(agent, vm_id):
    conn = libvirt.open(agent.uri)
    try:
        return conn.lookupByUUIDString(vm_id).XMLDesc(0)
    finally:
        conn.close()


def test_create_up_list_stats_destroy(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    conf = _create(virt_agent, params)
    assert conf["vmId"] == vm_id
    assert conf["status"] in ("WaitForLaunch", "Powering up", "Up")
    assert conf["memSize"] == 96
    wait_status(virt_agent.proxy, vm_id, "Up")
    wait_booted(virt_agent, vm_id)
    assert "<domain type='qemu'" in _domain(virt_agent, vm_id)

    listed = virt_agent.proxy.list()["vmList"]
    assert {"vmId": vm_id, "status": "Up", "vmName": params["vmName"]} in listed
    full = virt_agent.proxy.list(True, [vm_id])["vmList"]
    assert full[0]["vmId"] == vm_id and full[0]["status"] == "Up"
    assert any(d["type"] == "balloon" for d in full[0]["devices"])

    s = stats(virt_agent.proxy, vm_id)
    assert s["status"] == "Up" and s["monitorResponse"] == "0"
    assert int(s["elapsedTime"]) >= 0
    # The sampler fills in CPU and balloon figures within a few cycles.
    s = wait_for(lambda: "cpuUser" in (st := stats(virt_agent.proxy, vm_id))
                 and st, 10, "sampled stats")
    assert float(s["cpuUser"]) >= 0 and "balloonInfo" in s

    answer = virt_agent.proxy.destroy(vm_id)
    assert answer["status"]["code"] == 0, answer
    assert virt_agent.proxy.getVmStats(vm_id)["status"]["code"] == 1  # NoSuchVM
    with pytest.raises(libvirt.libvirtError):
        _domain(virt_agent, vm_id)


def test_pause_cont_reset(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        assert virt_agent.proxy.pause(vm_id)["status"]["code"] == 0
        wait_status(virt_agent.proxy, vm_id, "Paused")
        assert virt_agent.proxy.cont(vm_id)["status"]["code"] == 0
        wait_status(virt_agent.proxy, vm_id, "Up")
        assert virt_agent.proxy.reset(vm_id)["status"]["code"] == 0
        wait_booted(virt_agent, vm_id, count=2)  # the guest booted again
        assert stats(virt_agent.proxy, vm_id)["status"] == "Up"
    finally:
        virt_agent.proxy.destroy(vm_id)


def test_shutdown_exit_code_0(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        answer = virt_agent.proxy.shutdown(vm_id, 0, "bye", False, 20, False)
        assert answer["status"]["code"] == 0, answer
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=30)
        assert down["exitCode"] == 0
        assert down["exitReason"] == 6  # admin shut down
        assert "Power down" in virt_agent.console(vm_id)
    finally:
        virt_agent.proxy.destroy(vm_id)


def test_guest_powers_itself_off(virt_agent, guest):
    params = vm_params(guest, kernelArgs=guest["cmdline"])
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        # An ACPI power button press nobody asked the agent for: the guest
        # powers off on its own initiative.
        conn = libvirt.open(virt_agent.uri)
        try:
            conn.lookupByUUIDString(vm_id).shutdownFlags(
                libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        finally:
            conn.close()
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=30)
        assert down["exitCode"] == 0 and down["exitReason"] == 7  # user
    finally:
        virt_agent.proxy.destroy(vm_id)


def _qemu_pid(agent, vm_id):
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmdline and vm_id.encode() in cmdline:
            return int(name)
    raise AssertionError(f"no QEMU process for {vm_id}")


def test_kill_9_qemu_turns_down_with_error(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        os.kill(_qemu_pid(virt_agent, vm_id), signal.SIGKILL)
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=5)
        assert down["exitCode"] == 1
        assert down["exitReason"] == 2  # lost QEMU
        assert down["exitMessage"]
    finally:
        virt_agent.proxy.destroy(vm_id)
    assert virt_agent.proxy.getVmStats(vm_id)["status"]["code"] == 1


@pytest.mark.parametrize("change, code", [
    ({"memSize": -1}, 91),                                # InvalidParameter
    ({"memSize": "lots"}, 91),
    ({"drives": [{"path": "/nonexistent/disk.img"}]}, 13),  # ImageFileNotFound
    ({"drives": [{"format": "raw"}]}, 11),                 # MissingParameter
    ({"smp": 0}, 91),
    ({"display": "rdp"}, 91),
])
def test_bad_params_leave_nothing(virt_agent, guest, change, code):
    params = vm_params(guest, **change)
    answer = virt_agent.proxy.create(params)
    assert answer["status"]["code"] == code, answer
    assert virt_agent.proxy.getVmStats(params["vmId"])["status"]["code"] == 1
    with pytest.raises(libvirt.libvirtError):
        _domain(virt_agent, params["vmId"])


def test_duplicate_vm_id_refused(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        again = virt_agent.proxy.create(dict(params, vmName="other"))
        assert again["status"]["code"] == 4, again        # VMExists
        assert stats(virt_agent.proxy, vm_id)["status"] == "Up"
        conn = libvirt.open(virt_agent.uri)
        try:
            names = [d.name() for d in conn.listAllDomains()]
        finally:
            conn.close()
        assert "other" not in names
    finally:
        virt_agent.proxy.destroy(vm_id)


def test_start_failure_reported_down(virt_agent, guest):
    params = vm_params(guest, nics=[{"bridge": "nosuchbridge0",
                                     "macAddr": "00:1a:4a:00:00:01"}])
    vm_id = params["vmId"]
    _create(virt_agent, params)
    down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=20)
    assert down["exitCode"] == 1 and down["exitReason"] == 3
    assert "nosuchbridge0" in down["exitMessage"]
    assert virt_agent.proxy.destroy(vm_id)["status"]["code"] == 0


def test_io_error_pauses_with_reason(virt_agent, guest, small_fs):
    image = os.path.join(small_fs, f"full-{os.getpid()}.img")
    with open(image, "wb") as f:
        f.truncate(64 << 20)          # 64 MiB sparse on a 4 MiB filesystem
    params = vm_params(guest, drives=[{
        "path": image, "format": "raw", "serial": "vdsm-write-test",
        "cache": "writeback", "propagateErrors": "off"}])
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        paused = wait_status(virt_agent.proxy, vm_id, "Paused", timeout=60)
        assert paused["pauseCode"] == "ENOSPC"
    finally:
        virt_agent.proxy.destroy(vm_id)
        os.unlink(image)


def test_shutdown_force_after_timeout(virt_agent, guest):
    # A paused guest cannot react to the power button: force must stop it.
    params = vm_params(guest, launchPaused="true")
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Paused")
        answer = virt_agent.proxy.shutdown(vm_id, 0, "", False, 2, True)
        assert answer["status"]["code"] == 0, answer
        down = wait_status(virt_agent.proxy, vm_id, "Down", timeout=20)
        assert down["exitReason"] == 6 and down["exitCode"] == 0
    finally:
        virt_agent.proxy.destroy(vm_id)
