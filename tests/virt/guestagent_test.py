"""Guest agent facts in VM stats, from a real TCG guest running qemu-ga."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vdsm.virt import guestinfo

from .harness import stats, vm_params, wait_booted, wait_for, wait_status
from .lifecycle_test import _create, _qemu_pid

FACTS_WITHIN = 60.0  # seconds from boot until the facts must be in stats
FAST = 1.0
GUEST_KEYS = ("guestFQDN", "guestOsInfo", "guestTimezone", "netIfaces",
              "guestIPs", "disksUsage", "appsList")


@pytest.fixture
def agent_vm(virt_agent, guest):
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent "
                    "(Debian package qemu-guest-agent not installable)")
    params = vm_params(guest)
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, params["vmId"], "Up")
        wait_booted(virt_agent, params["vmId"])
        yield params["vmId"]
    finally:
        virt_agent.proxy.destroy(params["vmId"])


def _facts(proxy, vm_id):
    s = stats(proxy, vm_id)
    return s if "disksUsage" in s and "guestOsInfo" in s else None


def test_facts_appear_in_stats(virt_agent, guest, agent_vm):
    s = wait_for(lambda: _facts(virt_agent.proxy, agent_vm), FACTS_WITHIN,
                 "guest agent facts in stats")
    assert s["guestAgentConnected"] is True
    assert s["guestFQDN"] and s["guestName"] == s["guestFQDN"]
    assert s["guestOsInfo"]["kernel"] == guest["kernel_version"]
    assert s["guestOsInfo"]["arch"] == "x86_64"
    assert s["appsList"][0].startswith("qemu-guest-agent-")
    assert isinstance(s["guestTimezone"]["offset"], int)
    # The test guest has no NIC and leaves lo down: lo, without addresses.
    assert {"name": "lo", "hw": "00:00:00:00:00:00", "inet": [],
            "inet6": []} in s["netIfaces"]
    assert s["guestIPs"] == ""
    # The initrd guest has no block-backed file system: an empty list.
    for fs in s["disksUsage"]:
        assert set(fs) == {"path", "fs", "total", "used"}
        assert all(isinstance(v, str) for v in fs.values())


def test_silent_agent_backs_off_and_stats_stay_fast(virt_agent, agent_vm):
    """A stopped QEMU never answers the agent: each call times out, the VM
    loses its guest facts and is marked, getAllVmStats never waits; once
    QEMU runs again the facts come back."""
    proxy = virt_agent.proxy
    poller = virt_agent.virt.guest_agent
    wait_for(lambda: _facts(proxy, agent_vm), FACTS_WITHIN, "first facts")
    pid = _qemu_pid(virt_agent, agent_vm)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: poller.is_silent(agent_vm),
                 poller.interval + 3 * poller.timeout + 5,
                 "the silent agent marked")
        for _ in range(6):
            start = time.monotonic()
            answer = proxy.getAllVmStats()
            assert time.monotonic() - start < FAST
            mine = [s for s in answer["statsList"] if s["vmId"] == agent_vm]
            assert not set(GUEST_KEYS) & set(mine[0]), mine
            time.sleep(0.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not poller.is_silent(agent_vm)
             and _facts(proxy, agent_vm), FACTS_WITHIN,
             "the facts back after the agent answers")


def test_disks_usage_from_guest_info_keys():
    info = {"fs.count": 2,
            "fs.0.mountpoint": "/", "fs.0.fstype": "ext4",
            "fs.0.total-bytes": 1000, "fs.0.used-bytes": 250,
            "fs.1.mountpoint": "/boot", "fs.1.fstype": "vfat"}
    assert guestinfo.disks_usage(info) == [
        {"path": "/", "fs": "ext4", "total": "1000", "used": "250"}]


def test_guest_without_agent_reports_no_facts(virt_agent, guest, agent_vm):
    """A guest whose init is only busybox's sleep never starts qemu-ga:
    its channel stays disconnected, it gets no guest keys, and the other
    VM's facts and getAllVmStats are not held up by it."""
    proxy = virt_agent.proxy
    # Without "quiet" the kernel logs the init it runs to the console.
    cmdline = guest["cmdline"].replace(" quiet", "")
    params = vm_params(guest, memSize=96, kernelArgs=cmdline
                       + " rdinit=/bin/busybox -- sleep 3600")
    silent = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(proxy, silent, "Up")
        wait_for(lambda: _facts(proxy, agent_vm), FACTS_WITHIN, "facts")
        wait_for(lambda: "Run /bin/busybox as init process"
                 in virt_agent.console(silent), FACTS_WITHIN,
                 "the silent guest to run its init")
        end = time.monotonic() + 3 * virt_agent.virt.guest_agent.interval
        while time.monotonic() < end:
            start = time.monotonic()
            answer = proxy.getAllVmStats()
            assert time.monotonic() - start < FAST
            by_id = {s["vmId"]: s for s in answer["statsList"]}
            assert by_id[silent]["guestAgentConnected"] is False
            assert not set(GUEST_KEYS) & set(by_id[silent]), by_id[silent]
            assert "guestOsInfo" in by_id[agent_vm]
            time.sleep(0.5)
    finally:
        proxy.destroy(silent)


def test_silent_mark_forgotten_when_the_vm_goes_down(virt_agent, agent_vm):
    proxy = virt_agent.proxy
    poller = virt_agent.virt.guest_agent
    wait_for(lambda: _facts(proxy, agent_vm), FACTS_WITHIN, "first facts")
    pid = _qemu_pid(virt_agent, agent_vm)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: poller.is_silent(agent_vm),
                 poller.interval + 3 * poller.timeout + 5,
                 "the silent agent marked")
    finally:
        os.kill(pid, signal.SIGKILL)
    wait_status(proxy, agent_vm, "Down", timeout=30)
    wait_for(lambda: not poller.is_silent(agent_vm), poller.interval + 5,
             "the mark of the VM gone down forgotten")
    assert not set(GUEST_KEYS) & set(stats(proxy, agent_vm))
