"""Guest agent facts in VM stats, from a real TCG guest running qemu-ga."""

from __future__ import annotations

import json
import os
import signal
import time

import libvirt
import libvirt_qemu
import pytest

from vdsm.common import commands
from vdsm.virt import guestinfo

from .harness import (
    BRIDGE,
    booted_vm,
    stats,
    vm_params,
    wait_for,
    wait_status,
)
from .lifecycle_test import _create, _qemu_pid

FACTS_WITHIN = 60.0  # seconds from boot until the facts must be in stats
FAST = 1.0
NON_RESPONSIVE, BALLOON_ERROR, FREEZE_FAILED = 19, 53, 76   # classic codes
GUEST_KEYS = ("guestFQDN", "guestOsInfo", "guestTimezone", "netIfaces",
              "guestIPs", "disksUsage", "appsList")


@pytest.fixture
def agent_vm(virt_agent, guest):
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent "
                    "(Debian package qemu-guest-agent not installable)")
    # qemu-ga's facts alone (ovirtagent_test.py covers the oVirt agent's)
    yield from booted_vm(virt_agent, vm_params(
        guest, kernelArgs=guest["cmdline"] + " vdsm_no_ovirt_agent"))


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


def _stop_until_silent(virt_agent, vm_id) -> int:
    """SIGSTOP the VM's QEMU once its agent gave facts; wait until the
    poller marks it silent. Returns the (stopped) QEMU's pid."""
    poller = virt_agent.virt.guest_agent
    wait_for(lambda: _facts(virt_agent.proxy, vm_id), FACTS_WITHIN,
             "first facts")
    pid = _qemu_pid(virt_agent, vm_id)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: poller.is_silent(vm_id),
                 poller.interval + 3 * poller.timeout + 5,
                 "the silent agent marked")
    except AssertionError:
        os.kill(pid, signal.SIGCONT)
        raise
    return pid


def test_silent_agent_backs_off_and_stats_stay_fast(virt_agent, agent_vm):
    """A stopped QEMU never answers the agent: each call times out, the VM
    loses its guest facts and is marked, getAllVmStats never waits; once
    QEMU runs again the facts come back."""
    proxy = virt_agent.proxy
    poller = virt_agent.virt.guest_agent
    pid = _stop_until_silent(virt_agent, agent_vm)
    try:
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
    pid = _stop_until_silent(virt_agent, agent_vm)
    os.kill(pid, signal.SIGKILL)
    wait_status(proxy, agent_vm, "Down", timeout=30)
    wait_for(lambda: not poller.is_silent(agent_vm), poller.interval + 5,
             "the mark of the VM gone down forgotten")
    assert not set(GUEST_KEYS) & set(stats(proxy, agent_vm))


def test_guest_ips_of_a_nic(virt_agent, guest):
    """A NIC on the test bridge with a static address (set by the guest's
    init from vdsm_ip=): qemu-ga reports it in netIfaces and guestIPs."""
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    mac = "00:1a:4a:00:60:01"
    params = vm_params(guest, kernelArgs=guest["cmdline"]
                       + " vdsm_ip=10.77.0.5/24",
                       nics=[{"bridge": BRIDGE, "macAddr": mac}])
    vm_id = params["vmId"]
    proxy = virt_agent.proxy
    _create(virt_agent, params)
    try:
        wait_status(proxy, vm_id, "Up")
        s = wait_for(lambda: (x := stats(proxy, vm_id)).get("guestIPs") and x,
                     FACTS_WITHIN, "the guest's address in stats")
        assert s["guestIPs"] == "10.77.0.5"
        eth0 = [i for i in s["netIfaces"] if i["name"] == "eth0"]
        assert eth0 and eth0[0]["hw"] == mac
        assert eth0[0]["inet"] == ["10.77.0.5"]
    finally:
        proxy.destroy(vm_id)


def test_shutdown_through_the_guest_agent(virt_agent, agent_vm):
    """With qemu-ga connected, shutdown asks it first: the guest's
    /sbin/shutdown (run only by qemu-ga) prints its mark and powers off."""
    proxy = virt_agent.proxy
    wait_for(lambda: stats(proxy, agent_vm)["guestAgentConnected"],
             FACTS_WITHIN, "qemu-ga connected")
    answer = proxy.shutdown(agent_vm, 0, "bye", False, 20, False)
    assert answer["status"]["code"] == 0, answer
    down = wait_status(proxy, agent_vm, "Down", timeout=30)
    assert down["exitCode"] == 0
    assert "VDSM-TEST-GUEST shutdown by the guest agent" in \
        virt_agent.console(agent_vm)


def _fsfreeze_status(agent, vm_id):
    conn = libvirt.open(agent.uri)
    try:
        dom = conn.lookupByUUIDString(vm_id)
        answer = libvirt_qemu.qemuAgentCommand(
            dom, json.dumps({"execute": "guest-fsfreeze-status"}), 10, 0)
        return json.loads(answer)["return"]
    finally:
        conn.close()


@pytest.fixture
def fs_vm(virt_agent, guest, tmp_path):
    """A guest with qemu-ga and an ext4 disk its init mounts on /mnt/test."""
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    image = str(tmp_path / "fs.img")
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    commands.run(["mkfs.ext4", "-q", "-F", image], timeout=30)
    os.chmod(tmp_path, 0o755)
    params = vm_params(guest, drives=[{"path": image, "format": "raw",
                                       "serial": "vdsm-fs-test"}])
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, params["vmId"], "Up")
        wait_for(lambda: "VDSM-TEST-GUEST mounted /mnt/test"
                 in virt_agent.console(params["vmId"]), FACTS_WITHIN,
                 "the ext4 disk mounted in the guest")
        yield params["vmId"]
    finally:
        virt_agent.proxy.destroy(params["vmId"])


def test_file_systems_in_stats_and_freeze_thaw(virt_agent, fs_vm):
    """The mounted ext4 disk shows in disksUsage; freeze freezes it (qemu-ga
    says frozen), a second freeze is refused with the classic code, thaw
    thaws it."""
    proxy = virt_agent.proxy
    s = wait_for(lambda: (x := stats(proxy, fs_vm)).get("disksUsage") and x,
                 FACTS_WITHIN, "the guest's file systems in stats")
    fs = [d for d in s["disksUsage"] if d["path"] == "/mnt/test"]
    assert fs and fs[0]["fs"] == "ext4", s["disksUsage"]
    assert 0 < int(fs[0]["used"]) < int(fs[0]["total"]) <= 16 << 20
    assert proxy.freeze(fs_vm)["status"]["code"] == 0
    try:
        assert _fsfreeze_status(virt_agent, fs_vm) == "frozen"
        answer = proxy.freeze(fs_vm)       # qemu-ga refuses a second one
        assert answer["status"]["code"] == FREEZE_FAILED, answer
    finally:
        assert proxy.thaw(fs_vm)["status"]["code"] == 0
    assert _fsfreeze_status(virt_agent, fs_vm) == "thawed"


def test_freeze_thaw_without_an_agent(virt_agent, guest):
    """A guest running neither agent: freeze and thaw answer the classic
    NonResponsiveGuestAgent within the guest agent timeout."""
    params = vm_params(guest, kernelArgs=guest["cmdline"].replace(" quiet", "")
                       + " rdinit=/bin/busybox -- sleep 3600")
    vm_id = params["vmId"]
    proxy = virt_agent.proxy
    _create(virt_agent, params)
    try:
        wait_status(proxy, vm_id, "Up")
        for verb in (proxy.freeze, proxy.thaw):
            start = time.monotonic()
            answer = verb(vm_id)
            assert answer["status"]["code"] == NON_RESPONSIVE, answer
            assert time.monotonic() - start < \
                virt_agent.virt.ctx.guest_agent_timeout + 2
    finally:
        proxy.destroy(vm_id)


def test_set_balloon_target(virt_agent, agent_vm):
    """The balloon takes 16 MiB of the 96 MiB guest (its initramfs lives in
    RAM: much more and it runs out): balloonInfo shows the target at once
    and the current size once the guest gave the memory."""
    proxy = virt_agent.proxy
    wait_for(lambda: "balloonInfo" in stats(proxy, agent_vm), FACTS_WITHIN,
             "balloonInfo in stats")
    target = 80 * 1024
    assert proxy.setBalloonTarget(agent_vm, target)["status"]["code"] == 0
    info = stats(proxy, agent_vm)["balloonInfo"]
    assert info["balloon_target"] == str(target)
    assert info["balloon_max"] == str(96 * 1024)
    wait_for(lambda: stats(proxy, agent_vm)["balloonInfo"]["balloon_cur"]
             == str(target), FACTS_WITHIN, "the balloon at its target")
    assert "Out of memory" not in virt_agent.console(agent_vm)
    too_big = 1024 * 1024 * 1024
    answer = proxy.setBalloonTarget(agent_vm, too_big)
    assert answer["status"]["code"] == BALLOON_ERROR, answer
    assert stats(proxy, agent_vm)["balloonInfo"]["balloon_target"] == str(target)
