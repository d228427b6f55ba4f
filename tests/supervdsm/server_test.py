"""supervdsmd as a real process: socket, peers, errors, shutdown."""

from __future__ import annotations

import grp
import os
import pwd
import signal
import socket
import stat
import struct
import threading
import time

import pytest

from vdsm.supervdsm import protocol
from vdsm.supervdsm.client import SupervdsmClient
from vdsm.supervdsm.errors import AccessDenied, UnknownOperation

from .helpers import SupervdsmProcess, run_as, uid_of


def test_ping(supervdsmd, client):
    assert client.ping() == {"pid": supervdsmd.pid, "uid": 0}


def test_socket_mode_group_and_pid_file(supervdsmd, vdsm_user):
    st = os.stat(supervdsmd.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (0, pwd.getpwnam(vdsm_user).pw_gid)
    pid_file = os.path.join(supervdsmd.config.run_dir, "supervdsmd.pid")
    with open(pid_file) as f:
        assert int(f.read()) == supervdsmd.pid


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(supervdsmd, client, signo):
    client.ping()  # leaves an idle connection open in the server
    pid_file = os.path.join(supervdsmd.config.run_dir, "supervdsmd.pid")
    start = time.monotonic()
    supervdsmd.proc.send_signal(signo)
    assert supervdsmd.proc.wait(10) == 0
    assert time.monotonic() - start < 5
    assert not os.path.exists(supervdsmd.socket_path)
    assert not os.path.exists(pid_file)
    assert f"shutting down ({signal.Signals(signo).name})" in supervdsmd.log()


def test_second_instance_refused(supervdsmd, client):
    second = SupervdsmProcess(supervdsmd.root)
    try:
        with pytest.raises(RuntimeError, match="another supervdsmd"):
            second.start()
        assert second.proc.returncode == 1
    finally:
        second.stop()
    assert client.ping()["pid"] == supervdsmd.pid


def test_stale_socket_replaced(vdsm_user, agent_root):
    server = SupervdsmProcess(agent_root)
    server.start()
    server.proc.kill()  # SIGKILL: no cleanup, the socket file stays
    server.proc.wait(10)
    assert os.path.exists(server.socket_path)
    server.start()
    try:
        with SupervdsmClient(server.socket_path, timeout=5) as c:
            assert c.ping()["pid"] == server.pid
    finally:
        server.stop()


def test_errors_keep_the_connection_usable(client):
    with pytest.raises(UnknownOperation) as e:
        client.call("run_shell", cmd="id")
    assert e.value.name == "MethodNotImplemented"
    assert "run_shell" in e.value.message
    assert client.ping()["uid"] == 0


def test_malformed_frame_answered_and_closed(supervdsmd, client):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(supervdsmd.socket_path)
        sock.sendall(struct.pack(">I", 5) + b"{oops")
        answer = protocol.recv_message(sock)
        assert answer["id"] is None
        assert answer["error"]["name"] == "GeneralException"
        assert sock.recv(1) == b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(supervdsmd.socket_path)
        sock.sendall(struct.pack(">I", protocol.MAX_MESSAGE + 1))
        assert "exceeds" in protocol.recv_message(sock)["error"]["message"]
    assert client.ping()["pid"] == supervdsmd.pid


def test_concurrent_calls_from_threads(client, supervdsmd):
    results, failures = [], []

    def worker():
        try:
            for _ in range(20):
                results.append(client.ping()["pid"])
        except Exception as e:  # collected and asserted below
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures
    assert results == [supervdsmd.pid] * 160


def test_vdsm_user_allowed_after_dropping_privileges(supervdsmd, vdsm_user):
    path = supervdsmd.socket_path

    def child():
        with SupervdsmClient(path, timeout=5) as c:
            return {"euid": os.geteuid(), "ping": c.ping()}

    result = run_as(vdsm_user, child)
    assert result == {"euid": uid_of(vdsm_user),
                      "ping": {"pid": supervdsmd.pid, "uid": 0}}


def _ping_outcome(path):
    def child():
        with SupervdsmClient(path, timeout=5, connect_timeout=1) as c:
            return c.ping()
    return child


def test_foreign_user_stopped_by_socket_permissions(supervdsmd):
    result = run_as("nobody", _ping_outcome(supervdsmd.socket_path))
    assert result["raised"] == "AccessDenied"
    assert "Permission denied" in result["message"]


def test_foreign_user_refused_by_peer_credentials(supervdsmd, client):
    # Even with a socket anyone may open, the kernel-reported uid decides.
    os.chmod(supervdsmd.socket_path, 0o666)
    result = run_as("nobody", _ping_outcome(supervdsmd.socket_path))
    assert result == {"raised": "AccessDenied", "name": "AccessDenied",
                      "message": f"uid {uid_of('nobody')} is not allowed to use "
                                 "supervdsm"}
    assert "refused connection from pid=" in supervdsmd.log()
    assert f"uid={uid_of('nobody')}" in supervdsmd.log()
    assert client.ping()["uid"] == 0


def test_group_members_allowed(vdsm_user, agent_root):
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    server = SupervdsmProcess(agent_root, "--group", group)
    server.start()
    try:
        assert os.stat(server.socket_path).st_gid == pwd.getpwnam("nobody").pw_gid
        result = run_as("nobody", _ping_outcome(server.socket_path))
        assert result == {"pid": server.pid, "uid": 0}
    finally:
        server.stop()


def test_missing_vdsm_user_serves_root_only(agent_root):
    server = SupervdsmProcess(agent_root, "--vdsm-user", "no-such-user-xyz")
    server.start()
    try:
        assert os.stat(server.socket_path).st_gid == 0
        with SupervdsmClient(server.socket_path, timeout=5) as c:
            assert c.ping()["uid"] == 0
        assert "'no-such-user-xyz' does not exist" in server.log()
    finally:
        server.stop()


def test_access_denied_is_not_retried(supervdsmd):
    os.chmod(supervdsmd.socket_path, 0o666)
    start = time.monotonic()
    result = run_as("nobody", _ping_outcome(supervdsmd.socket_path))
    assert result["raised"] == AccessDenied.__name__
    assert time.monotonic() - start < 3
    assert supervdsmd.log().count("refused connection") == 1
