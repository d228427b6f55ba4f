"""A local HTTP server for image transfer tests and the transfer benchmark.

GET serves one file, with ``Range: bytes=N-`` support (206 and
Content-Range) when ``ranges`` is set; ``break_at`` makes the next
``breaks`` GETs send the full Content-Length but close the connection
after that offset (a server that stops mid-transfer); ``hold_at`` makes
GETs stall at that offset until :attr:`release` is set (a stalled server,
at most 30 s). PUT stores the body
in ``put_path``. It runs in a daemon thread of the test on 127.0.0.1 and
a free port; :meth:`close` stops it. Every request is recorded in
``requests`` as (method, Range header or "").
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 1024 * 1024


class TransferServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, source: str, put_path: str, *, ranges: bool = True,
                 tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context."""
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.source = source
        self.put_path = put_path
        self.ranges = ranges
        self.break_at: int | None = None
        self.breaks = 0
        self.hold_at: int | None = None
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}/image"

    def configure(self, *, source: str | None = None, ranges: bool | None = None,
                  break_at: int | None = None, breaks: int = 0,
                  hold_at: int | None = None) -> None:
        if source is not None:
            self.source = source
        if ranges is not None:
            self.ranges = ranges
        self.break_at, self.breaks = break_at, breaks
        self.hold_at = hold_at
        self.release.clear()
        self.requests.clear()

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self._thread.join(10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TransferServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on ``requests`` instead."""

    def do_GET(self) -> None:
        srv = self.server
        wanted = self.headers.get("Range", "")
        srv.requests.append(("GET", wanted))
        if self.path.split("?")[0] != "/image":
            self.send_error(404)
            return
        size = os.path.getsize(srv.source)
        start = 0
        if wanted and srv.ranges:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        if srv.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        stop = size
        if srv.breaks > 0 and srv.break_at is not None and start <= srv.break_at:
            srv.breaks -= 1
            stop = srv.break_at
        with open(srv.source, "rb") as f:
            f.seek(start)
            offset = start
            while offset < stop:
                if offset == srv.hold_at:
                    self.wfile.flush()
                    srv.release.wait(30)
                end = stop if srv.hold_at is None or offset >= srv.hold_at \
                    else min(stop, srv.hold_at)
                data = f.read(min(CHUNK, end - offset))
                if not data:
                    break
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return      # the client went away (killed)
                offset += len(data)
        if stop < size:       # stop mid-transfer: close without the rest
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_PUT(self) -> None:
        srv = self.server
        srv.requests.append(("PUT", ""))
        left = int(self.headers.get("Content-Length", "0"))
        with open(srv.put_path, "wb") as f:
            while left > 0:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    break
                f.write(data)
                left -= len(data)
        self.send_response(400 if left else 201)
        self.send_header("Content-Length", "0")
        self.end_headers()
