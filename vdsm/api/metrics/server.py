"""The /metrics HTTP listener: its own small thread, apart from the API.

Plain HTTP on loopback by default (``[metrics] address``): Prometheus
scrapes without the API's client certificates, and a scrape never takes
an API worker. A few scrapes may run at once; more are turned away (503)
instead of piling up threads, and a silent client is dropped after
``TIMEOUT`` seconds.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

TIMEOUT = 10.0          # seconds a client may stay silent
MAX_CONCURRENT = 4      # scrapes served at once


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = TIMEOUT  # HTTP/1.0: one request per connection, nothing lingers

    def do_GET(self) -> None:  # noqa: N802 (http.server protocol)
        if self.path.partition("?")[0] != "/metrics":
            self._answer(404, b"only /metrics is served here\n", "text/plain")
            return
        try:
            body = generate_latest(self.server.registry)
        except Exception:
            log.exception("building the metrics failed")
            self._answer(500, b"internal error\n", "text/plain")
            return
        self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int],
                 registry: CollectorRegistry) -> None:
        self.registry = registry
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\n"
                                b"Content-Length: 0\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class MetricsServer:
    """Serves ``registry`` at /metrics; start() and stop() once each."""

    def __init__(self, registry: CollectorRegistry, address: str,
                 port: int) -> None:
        self.registry = registry
        self.address = address
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when configured as 0)."""
        return self._server.server_address[1] if self._server else self._port

    def start(self) -> bool:
        """Bind and serve in a thread; False (logged) if it cannot bind:
        missing metrics must never keep the agent from managing the host."""
        try:
            self._server = _Server((self.address, self._port), self.registry)
        except OSError as e:
            log.error("cannot serve metrics on %s:%s: %s", self.address,
                      self._port, e)
            return False
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.5},
                                        name="metrics-http", daemon=True)
        self._thread.start()
        log.info("metrics at http://%s:%s/metrics", self.address, self.port)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening; waits at most ``timeout`` for the thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
