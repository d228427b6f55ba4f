"""The oVirt guest agent channel and the desktop verbs, against the test
guest's responder (scripts/test-guest-ovirt-agent.sh) on a real TCG
guest; the reader's failure paths against a local socket beside them."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
import types

import pytest

from vdsm.virt import ovirtagent
from vdsm.virt.errors import NonResponsiveGuestAgent

from .guestagent_test import FACTS_WITHIN
from .harness import (
    VirtAgent,
    booted_vm,
    destroy_quietly,
    stats,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from .lifecycle_test import _create, _qemu_pid

NON_RESPONSIVE = 19   # classic NonResponsiveGuestAgent


@pytest.fixture
def ovirt_vm(virt_agent, guest):
    yield from booted_vm(virt_agent, vm_params(guest))


def _console_has(agent, vm_id, text):
    return wait_for(lambda: text in agent.console(vm_id), FACTS_WITHIN,
                    f"{text!r} on the console of {vm_id}")


def _stat_is(proxy, vm_id, key, value):
    def reached():
        return stats(proxy, vm_id).get(key) == value
    wait_for(reached, FACTS_WITHIN, f"{key} == {value!r}")


def test_agent_facts_in_stats(virt_agent, ovirt_vm):
    """The reader connects, asks for a refresh, negotiates API version 3
    (the guest prints what it got) and the heartbeat facts reach stats."""
    proxy = virt_agent.proxy
    s = wait_for(lambda: (x := stats(proxy, ovirt_vm)).get("username") and x,
                 FACTS_WITHIN, "oVirt agent facts")
    assert s["username"] == "None"
    assert s["guestAgentAPIVersion"] == 3
    assert "vdsm-test-ovirt-agent-1.0" in s["appsList"]
    _console_has(virt_agent, ovirt_vm, "ovirt-agent api-version 3")
    _console_has(virt_agent, ovirt_vm, "ovirt-agent refresh")


def test_desktop_verbs_reach_the_guest(virt_agent, ovirt_vm):
    proxy = virt_agent.proxy
    _stat_is(proxy, ovirt_vm, "username", "None")
    answer = proxy.desktopLogin(ovirt_vm, "corp", "alice", "s3cret")
    assert answer["status"]["code"] == 0, answer
    _console_has(virt_agent, ovirt_vm, "ovirt-agent login alice@corp")
    _stat_is(proxy, ovirt_vm, "username", "alice@corp")
    _stat_is(proxy, ovirt_vm, "session", "UserLoggedOn")
    assert "s3cret" not in virt_agent.console(ovirt_vm)

    assert proxy.desktopLock(ovirt_vm)["status"]["code"] == 0
    _console_has(virt_agent, ovirt_vm, "ovirt-agent lock-screen")
    _stat_is(proxy, ovirt_vm, "session", "Locked")

    assert proxy.desktopLogoff(ovirt_vm, False)["status"]["code"] == 0
    _console_has(virt_agent, ovirt_vm, "ovirt-agent log-off")
    _stat_is(proxy, ovirt_vm, "username", "None")
    _stat_is(proxy, ovirt_vm, "session", "LoggedOff")

    assert proxy.sendHcCmdToDesktop(ovirt_vm, "hc-test")["status"]["code"] == 0
    _console_has(virt_agent, ovirt_vm, "ovirt-agent command hc-test")


def test_desktop_verbs_without_the_agent(virt_agent, guest):
    """A guest not running the oVirt agent: every desktop verb answers the
    classic NonResponsiveGuestAgent at once, as does a VM that is gone."""
    params = vm_params(guest, kernelArgs=guest["cmdline"]
                       + " vdsm_no_ovirt_agent")
    vm_id = params["vmId"]
    proxy = virt_agent.proxy
    _create(virt_agent, params)
    try:
        wait_status(proxy, vm_id, "Up")
        wait_booted(virt_agent, vm_id)
        for call in (lambda: proxy.desktopLogin(vm_id, "", "bob", "pw"),
                     lambda: proxy.desktopLogoff(vm_id, True),
                     lambda: proxy.desktopLock(vm_id),
                     lambda: proxy.sendHcCmdToDesktop(vm_id, "x")):
            start = time.monotonic()
            answer = call()
            assert answer["status"]["code"] == NON_RESPONSIVE, answer
            assert time.monotonic() - start < 2
        assert "username" not in stats(proxy, vm_id)
    finally:
        proxy.destroy(vm_id)
    assert proxy.desktopLock(vm_id)["status"]["code"] == 1   # NoSuchVM


# --- the reader against a local socket (failure paths) -------------------
class _Guest:
    """A listening socket standing in for QEMU's end of the channel."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ovirt-ch-")
        self.path = os.path.join(self.dir, "ch")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.settimeout(10)

    def accept(self) -> socket.socket:
        conn, _ = self.server.accept()
        conn.settimeout(10)
        return conn

    def close(self) -> None:
        self.server.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def local_channel():
    guest = _Guest()
    vm = types.SimpleNamespace(id="11111111-2222-3333-4444-555555555555",
                               ovirt_agent_info={})
    channel = ovirtagent.Channel(vm, guest.path, timeout=2.0)
    try:
        yield guest, vm, channel
    finally:
        channel.stop()
        guest.close()


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        assert chunk, "channel closed"
        data += chunk
    return data


def test_reader_survives_bad_lines_and_reconnects(local_channel):
    guest, vm, channel = local_channel
    with pytest.raises(NonResponsiveGuestAgent):
        channel.send("lock-screen")      # not connected yet
    channel.start()
    conn = guest.accept()
    assert b'"refresh"' in _read_line(conn)
    conn.sendall(b"garbage\n" + b'{"__name__": "heartbeat"}\n'
                 + b"x" * (ovirtagent.ovirtproto.MAX_LINE + 10) + b"\n"
                 + b'{"__name__": "active-user", "name": "carol"}\n')
    wait_for(lambda: vm.ovirt_agent_info.get("username") == "carol", 10,
             "the good line after the bad ones")
    assert channel.responsive()
    conn.close()                          # QEMU's client went away
    conn = guest.accept()                 # the reader comes back
    assert b'"refresh"' in _read_line(conn)
    channel.send("lock-screen")
    assert b'"lock-screen"' in _read_line(conn)
    conn.close()


def test_a_silent_guest_never_blocks_a_send(local_channel):
    """A guest that reads nothing: the socket buffer fills and the send
    fails after the timeout instead of hanging the API thread."""
    guest, vm, channel = local_channel
    channel.start()
    conn = guest.accept()
    conn.sendall(b'{"__name__": "heartbeat", "free-ram": 1}\n')
    wait_for(channel.responsive, 10, "the first heartbeat")
    big = "y" * 65536
    start = time.monotonic()
    with pytest.raises(NonResponsiveGuestAgent):
        for _ in range(1000):
            channel.send("echo", {"data": big})
    assert time.monotonic() - start < channel.timeout + 3
    conn.close()


def test_facts_of_a_guest_gone_silent_leave_the_stats(local_channel,
                                                       monkeypatch):
    monkeypatch.setattr(ovirtagent, "RESPONSIVE", 1.5)
    guest, vm, channel = local_channel
    channel.start()
    conn = guest.accept()
    conn.sendall(b'{"__name__": "active-user", "name": "dave"}\n')
    wait_for(lambda: vm.ovirt_agent_info.get("username") == "dave", 10,
             "the user in the facts")
    wait_for(lambda: vm.ovirt_agent_info == {}, 5, "the facts forgotten")
    assert not channel.responsive()
    with pytest.raises(NonResponsiveGuestAgent):
        ovirtagent.OvirtAgents.send(
            types.SimpleNamespace(_lock=threading.Lock(),
                                  _channels={vm.id: channel}),
            vm.id, "lock-screen")
    conn.close()


def test_stopped_guest_slows_neither_stats_nor_desktop_verbs(virt_agent,
                                                             ovirt_vm):
    """QEMU stopped (SIGSTOP) under a connected oVirt agent: getAllVmStats
    answers at once and a desktop command returns within its timeout."""
    proxy = virt_agent.proxy
    _stat_is(proxy, ovirt_vm, "username", "None")
    pid = _qemu_pid(virt_agent, ovirt_vm)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(4):
            start = time.monotonic()
            assert proxy.getAllVmStats()["status"]["code"] == 0
            assert time.monotonic() - start < 1.0
            start = time.monotonic()
            assert proxy.desktopLock(ovirt_vm)["status"]["code"] in \
                (0, NON_RESPONSIVE)
            assert time.monotonic() - start < \
                virt_agent.virt.ctx.guest_agent_timeout + 1
            time.sleep(0.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    _console_has(virt_agent, ovirt_vm, "ovirt-agent lock-screen")


def test_agent_restart_reconnects_to_the_guest(libvirtd, guest):
    """The agent stopped and started again (VMs keep running): the new
    reader connects to the same socket and the guest's state comes back."""
    first = VirtAgent(libvirtd.uri)
    second = None
    running = first
    params = vm_params(guest)
    vm_id = params["vmId"]
    try:
        _create(first, params)
        wait_status(first.proxy, vm_id, "Up")
        _stat_is(first.proxy, vm_id, "username", "None")
        assert first.proxy.desktopLogin(vm_id, "", "erin", "pw")[
            "status"]["code"] == 0
        _stat_is(first.proxy, vm_id, "username", "erin")
        first.stop()
        running = None
        second = running = VirtAgent(libvirtd.uri, root=first.root)
        _stat_is(second.proxy, vm_id, "username", "erin")
        assert second.proxy.desktopLock(vm_id)["status"]["code"] == 0
        _stat_is(second.proxy, vm_id, "session", "Locked")
    finally:
        if running is not None:
            running.stop()
        destroy_quietly(libvirtd.uri, [vm_id])
        first.root.cleanup()
