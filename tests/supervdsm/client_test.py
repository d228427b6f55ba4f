"""SupervdsmClient: reconnection across daemon restarts, timeouts, errors."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from vdsm.common import errors
from vdsm.supervdsm import protocol
from vdsm.supervdsm.client import SupervdsmClient
from vdsm.supervdsm.errors import (
    MountError,
    RemoteError,
    SupervdsmUnavailable,
    UnknownOperation,
    error_from_wire,
)


def test_same_client_survives_restart(supervdsmd, client):
    first = client.ping()["pid"]
    assert supervdsmd.terminate() == 0
    supervdsmd.start()
    second = client.ping()["pid"]
    assert first != second == supervdsmd.pid


def test_call_waits_for_daemon_coming_back(supervdsmd, client):
    client.ping()
    assert supervdsmd.terminate() == 0
    starter = threading.Timer(0.5, supervdsmd.start)
    starter.start()
    try:
        start = time.monotonic()
        assert client.ping()["pid"] != 0
        assert time.monotonic() - start < 5
    finally:
        starter.join(15)
    assert client.ping()["pid"] == supervdsmd.pid


def test_no_daemon_is_unavailable_within_bound(agent_root):
    path = os.path.join(agent_root, "missing.sock")
    client = SupervdsmClient(path, timeout=2, connect_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(SupervdsmUnavailable) as e:
        client.ping()
    assert 0.4 < time.monotonic() - start < 2
    assert e.value.name == "ResourceUnavailable"


class FakeServer:
    """A scripted peer (a test aid beside the real daemon tests).

    ``script`` lists, per accepted connection, what to do with its first
    request: "close" (hang up without answering), "hang" (never answer) or
    "answer" (reply pong to every request).
    """

    def __init__(self, path: str, script: list[str]) -> None:
        self.script = script
        self.requests = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.listener.settimeout(10)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for action in self.script:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(10)
            request = protocol.recv_message(conn)
            self.requests += 1
            if action == "close":
                conn.close()
            elif action == "hang":
                self.held.append(conn)
            else:
                protocol.send_message(conn, protocol.make_result(request["id"],
                                                                 "pong"))
                self.held.append(conn)

    def close(self):
        self.listener.close()
        for conn in self.held:
            conn.close()
        self.thread.join(10)


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "fake.sock")


def test_broken_connection_retried_once(sock_path):
    fake = FakeServer(sock_path, ["close", "answer"])
    try:
        assert SupervdsmClient(sock_path, timeout=5).call("ping") == "pong"
        assert fake.requests == 2
    finally:
        fake.close()


def test_broken_twice_gives_up(sock_path):
    fake = FakeServer(sock_path, ["close", "close"])
    try:
        with pytest.raises(SupervdsmUnavailable, match="closed the connection"):
            SupervdsmClient(sock_path, timeout=5).call("ping")
        assert fake.requests == 2
    finally:
        fake.close()


def test_no_answer_times_out(sock_path):
    fake = FakeServer(sock_path, ["hang"])
    try:
        start = time.monotonic()
        with pytest.raises(SupervdsmUnavailable, match="no answer"):
            SupervdsmClient(sock_path, timeout=0.3).call("ping")
        assert time.monotonic() - start < 2
        assert fake.requests == 1  # a timeout is not retried
    finally:
        fake.close()


def test_errors_rebuilt_by_name():
    e = error_from_wire("InvalidParameter", "bad path")
    assert type(e) is errors.InvalidParameter and e.message == "bad path"
    assert type(error_from_wire("MethodNotImplemented", "x")) is UnknownOperation
    assert type(error_from_wire("MountError", "x")) is MountError
    unknown = error_from_wire("StorageDomainDoesNotExist", "no such domain")
    assert isinstance(unknown, RemoteError)
    assert (unknown.name, unknown.message) == ("StorageDomainDoesNotExist",
                                               "no such domain")
    assert error_from_wire(None, 5).name == "GeneralException"


def test_op_error_raised_with_server_name_and_message(client, supervdsmd):
    with pytest.raises(errors.InvalidParameter) as e:
        client.call("chown_path", path="/etc/shadow", user="vdsm")
    assert e.value.name == "InvalidParameter"
    assert "'/etc/shadow' is outside" in e.value.message
    with pytest.raises(errors.MissingParameter):
        client.call("chown_path", path=supervdsmd.config.run_dir)
