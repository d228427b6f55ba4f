"""The STOMP client's byte channel: TLS read in one thread, written from many."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from vdsm.common import pki
from vdsm_cli.channel import Channel, TlsChannel


class EchoServer:
    """A TLS (or plain) echo server on loopback, one thread per client."""

    def __init__(self, ctx: ssl.SSLContext | None) -> None:
        self._ctx = ctx
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self._ctx is not None:
                conn = self._ctx.wrap_socket(conn, server_side=True)
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass  # the client went away or was refused
        finally:
            conn.close()

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def tls_echo(pki_paths):
    server = EchoServer(pki.server_context(pki_paths.ca_cert, pki_paths.host_cert,
                                           pki_paths.host_key))
    yield server
    server.close()


def _client_ctx(paths: pki.PkiPaths, ca: str | None = None) -> ssl.SSLContext:
    return pki.client_context(ca or paths.ca_cert, paths.client_cert("engine"),
                              paths.client_key("engine"))


def _echo_many(channel: Channel, *, writers: int = 8, messages: int = 300) -> bytes:
    """Write from several threads while one thread reads; all that came back."""
    expected = writers * messages * 100
    received = bytearray()

    def read() -> None:
        while len(received) < expected:
            data = channel.recv()
            if not data:
                return
            received.extend(data)

    def write(n: int) -> None:
        for _ in range(messages):
            channel.send(bytes([65 + n]) * 100)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    reader.join(30)
    return bytes(received)


def test_tls_read_while_others_write(tls_echo, pki_paths):
    raw = socket.create_connection(("127.0.0.1", tls_echo.port), timeout=10)
    channel = TlsChannel(raw, _client_ctx(pki_paths), server_hostname="localhost")
    channel.settimeout(None)
    try:
        received = _echo_many(channel)
    finally:
        channel.close()
    assert len(received) == 8 * 300 * 100
    for n in range(8):
        assert received.count(bytes([65 + n])) == 300 * 100


def test_plain_read_while_others_write():
    server = EchoServer(None)
    channel = Channel(socket.create_connection(("127.0.0.1", server.port)))
    try:
        assert len(_echo_many(channel, writers=4, messages=100)) == 4 * 100 * 100
    finally:
        channel.close()
        server.close()


def test_close_wakes_the_reader(tls_echo, pki_paths):
    raw = socket.create_connection(("127.0.0.1", tls_echo.port), timeout=10)
    channel = TlsChannel(raw, _client_ctx(pki_paths), server_hostname="localhost")
    channel.settimeout(None)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(channel.recv()))
    reader.start()
    channel.close()
    reader.join(10)
    assert got == [b""]


def test_untrusted_server(tls_echo, pki_paths, other_pki):
    raw = socket.create_connection(("127.0.0.1", tls_echo.port), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        TlsChannel(raw, _client_ctx(pki_paths, other_pki.ca_cert),
                   server_hostname="localhost")
    raw.close()


def test_handshake_timeout(pki_paths):
    with socket.create_server(("127.0.0.1", 0)) as silent:
        raw = socket.create_connection(silent.getsockname(), timeout=0.3)
        with pytest.raises(TimeoutError):
            TlsChannel(raw, _client_ctx(pki_paths), server_hostname="localhost")
        raw.close()
