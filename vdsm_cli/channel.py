"""A byte channel one thread reads while others write: plain or TLS.

An ``ssl.SSLSocket`` must not be read in one thread while another writes
to it: OpenSSL's connection object is not thread-safe, and under TLS 1.3
(session tickets arriving while the first frames go out) a concurrent
``send`` fails with ``[SSL] internal error`` or the read side sees a
false end of stream. So TLS runs on memory BIOs (as asyncio does): the
reader thread waits on the raw socket without any lock, and every use
of the TLS object - decrypting what arrived, encrypting what goes out -
happens under one lock.

Errors are those of the socket and ssl modules (ssl.SSLError for a TLS
alert, ssl.SSLCertVerificationError for an untrusted agent, TimeoutError
for a handshake that takes longer than the socket's timeout).
"""

from __future__ import annotations

import socket
import ssl
import threading

READ_SIZE = 65536


class Channel:
    """A plain socket. ``send`` is thread-safe; ``recv`` is for one reader."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False

    def send(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def recv(self) -> bytes:
        """Some bytes, or b"" at the end of the stream or once closed."""
        return self._raw_recv()

    def _raw_recv(self) -> bytes:
        if self._closed:
            return b""
        try:
            return self._sock.recv(READ_SIZE)
        except OSError:
            if self._closed:
                return b""  # closed under the reader's feet
            raise

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        """Wake the reader (it gets b"") and close; safe to call twice."""
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone: closing is all that is left
        self._sock.close()


class TlsChannel(Channel):
    """TLS over memory BIOs; the handshake is done in the constructor."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, *,
                 server_hostname: str | None) -> None:
        super().__init__(sock)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._receive()
        self._flush()

    def send(self, data: bytes) -> None:
        with self._lock:
            self._tls.write(data)
            self._flush()

    def recv(self) -> bytes:
        while True:
            with self._lock:
                try:
                    return self._tls.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    pass  # a whole record has not arrived yet
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""  # close_notify, or the socket just ended
                finally:
                    self._flush()  # alerts, key update answers
            self._receive()

    def _receive(self) -> None:
        data = self._raw_recv()
        with self._lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)
