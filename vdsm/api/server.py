"""The API listener: one TLS port, XML-RPC over HTTP and JSON-RPC over STOMP.

One event loop thread owns every socket: it accepts, runs TLS handshakes
(bounded by ``handshake_timeout``), reads requests and writes answers.
Worker threads only ever see whole requests, so a client that is slow,
silent or hostile holds a socket and some memory, never a worker. The
first bytes after the handshake pick the protocol: a STOMP command
(``CONNECT``/``STOMP``) or anything else that is not an HTTP request
line goes to STOMP (which answers ERROR to garbage), an HTTP request line
to HTTP. Connections are capped in total and per client address.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from vdsm.api.broker import Broker
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.jsonrpc import JsonRpcBinding
from vdsm.api.xmlrpc import XmlRpcBinding

log = logging.getLogger(__name__)

# An HTTP request line starts "METHOD /"; a STOMP command line has no space.
_HTTP_START = re.compile(rb"[A-Z]{3,10} /")


@dataclass(frozen=True)
class Limits:
    """Every bound the listener enforces (from the [rpc] configuration)."""

    workers: int = 8
    queue_size: int = 256
    max_request_bytes: int = 10 << 20
    max_header_bytes: int = 64 << 10
    handshake_timeout: float = 10.0
    request_timeout: float = 60.0
    idle_timeout: float = 300.0
    max_connections: int = 1000
    max_connections_per_address: int = 100
    max_pending_bytes: int = 16 << 20
    max_inflight_per_connection: int = 32
    heartbeat_ms: int = 10000


class Handler(Protocol):
    """A protocol handler of one connection (HTTP or STOMP)."""

    def feed(self, data: bytes) -> None: ...

    def closed(self) -> None: ...


class WorkerPool:
    """A fixed number of threads running whole requests; a bounded queue.

    ``submit`` never blocks: it returns False when the queue is full and
    the caller answers "busy". Results come back on the event loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int,
                 queue_size: int) -> None:
        self._loop = loop
        # finished requests wait here; the loop is woken once per batch,
        # not once per call
        self._finished: list[tuple[Any, Any, BaseException | None]] = []
        self._finished_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(queue_size, 1))
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"api-worker-{i}")
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[[], Any],
               done: Callable[[Any, BaseException | None], None]) -> bool:
        try:
            self._queue.put_nowait((fn, done))
        except queue.Full:
            return False
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, done = item
            try:
                result, error = fn(), None
            except BaseException as e:  # handed to the loop, which logs it
                result, error = None, e
            with self._finished_lock:
                self._finished.append((done, result, error))
                wake = len(self._finished) == 1
            if wake:
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:
                    return  # the loop is closed: the server is going away

    def _deliver(self) -> None:
        """On the loop: hand every finished request its result."""
        with self._finished_lock:
            finished, self._finished = self._finished, []
        for done, result, error in finished:
            try:
                done(result, error)
            except Exception:
                log.exception("delivering an API answer failed")

    def stop(self, timeout: float) -> None:
        for _ in self._threads:
            while True:
                try:
                    self._queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


class Connection(asyncio.Protocol):
    """One client socket: limits, TLS, protocol detection, then a handler."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._raw: asyncio.Transport | None = None
        self.peer = "?"
        self.address = ""
        self.handler: Handler | None = None
        self._head = b""
        self._counted = False
        self._closed = False
        self._deadline: asyncio.TimerHandle | None = None
        # Decrypted data may arrive before start_tls() hands us the TLS
        # transport; it waits here so nothing is ever written in clear.
        self._ready = server.ssl_context is None
        self._early = bytearray()

    # --- asyncio.Protocol --------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = self._raw = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.address = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        if not self.server._admit(self):
            transport.abort()
            return
        self._counted = True
        self.server.connections.add(self)
        self._deadline = self.server.loop.call_later(
            self.server.limits.handshake_timeout, self._too_slow, "handshake")
        if self.server.ssl_context is not None:
            self.server.loop.create_task(self._start_tls(transport))

    async def _start_tls(self, raw: Any) -> None:
        start = time.monotonic()
        try:
            tls = await self.server.loop.start_tls(
                raw, self, self.server.ssl_context, server_side=True,
                ssl_handshake_timeout=self.server.limits.handshake_timeout)
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as e:
            log.info("TLS handshake with %s refused after %.3f s: %s",
                     self.peer, time.monotonic() - start, e or type(e).__name__)
            raw.abort()
            self.connection_lost(None)
            return
        if tls is None or self._closed:
            if tls is not None:
                tls.abort()
            raw.abort()
            self.connection_lost(None)
            return
        self.transport = tls
        self._ready = True
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self.data_received(early)

    def data_received(self, data: bytes) -> None:
        if not self._ready:
            self._early += data
            return
        if self.handler is not None:
            self.handler.feed(data)
            return
        self._head += data
        if b"\n" not in self._head and len(self._head) < 16:
            return
        head, self._head = self._head, b""
        self._cancel_deadline()
        self.handler = self.server._handler_for(self, head)
        self.handler.feed(head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_deadline()
        if self._counted:
            self.server._release(self)
        if self.handler is not None:
            try:
                self.handler.closed()
            except Exception:
                log.exception("[%s] cleaning up the connection failed", self.peer)

    # --- what handlers use ------------------------------------------
    @property
    def is_closed(self) -> bool:
        return self._closed or (self.transport is not None
                                and self.transport.is_closing())

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pending_bytes(self) -> int:
        """Bytes written but not yet handed to the kernel (TLS and TCP)."""
        if self.transport is None or self._raw is None:
            return 0
        pending = self._raw.get_write_buffer_size()
        if self.transport is not self._raw:
            pending += self.transport.get_write_buffer_size()
        return pending

    def close(self) -> None:
        """Close after what is written has been sent."""
        if self.transport is not None and not self._closed:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def set_deadline(self, seconds: float, what: str) -> None:
        self._cancel_deadline()
        self._deadline = self.server.loop.call_later(seconds, self._too_slow, what)

    def clear_deadline(self) -> None:
        self._cancel_deadline()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        log.info("[%s] closing: %s not done in time", self.peer, what)
        if self.transport is not None:
            self.transport.abort()


class ApiServer:
    """Serve a Dispatcher on one port: XML-RPC (HTTP) and JSON-RPC (STOMP).

    ``ssl_context`` None serves plain TCP (allowed by the agent on loopback
    only). Runs its event loop in a thread of its own (:meth:`serve_in_thread`).
    """

    def __init__(self, dispatcher: Dispatcher, address: tuple[str, int], *,
                 ssl_context: ssl.SSLContext | None,
                 limits: Limits = Limits()) -> None:
        self.dispatcher = dispatcher
        self.ssl_context = ssl_context
        self.limits = limits
        self.xmlrpc = XmlRpcBinding(dispatcher)
        self.jsonrpc = JsonRpcBinding(dispatcher)
        self.transport_suffix = "+tls" if ssl_context else ""
        self.connections: set[Connection] = set()
        self._per_address: dict[str, int] = {}
        self.loop = asyncio.new_event_loop()
        self.broker = Broker(self.loop, max_pending_bytes=limits.max_pending_bytes)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted
        # sockets only then, and without it Nagle holds small answers
        # back ~40 ms behind the client's delayed ACK.
        self._sock = socket.socket(family, socket.SOCK_STREAM,
                                   socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(address)
        self._sock.listen(512)
        self._sock.setblocking(False)
        self.workers = WorkerPool(self.loop, limits.workers, limits.queue_size)
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    # --- connections ------------------------------------------------
    def _admit(self, conn: Connection) -> bool:
        if len(self.connections) >= self.limits.max_connections:
            log.warning("refusing %s: %d connections open (limit)", conn.peer,
                        len(self.connections))
            return False
        count = self._per_address.get(conn.address, 0)
        if count >= self.limits.max_connections_per_address:
            log.warning("refusing %s: %d connections from %s open (limit)",
                        conn.peer, count, conn.address)
            return False
        self._per_address[conn.address] = count + 1
        return True

    def _release(self, conn: Connection) -> None:
        self.connections.discard(conn)
        count = self._per_address.get(conn.address, 1) - 1
        if count > 0:
            self._per_address[conn.address] = count
        else:
            self._per_address.pop(conn.address, None)

    def _handler_for(self, conn: Connection, head: bytes) -> Handler:
        from vdsm.api.http import HttpHandler
        from vdsm.api.stomp_server import StompHandler

        if _HTTP_START.match(head):
            return HttpHandler(self, conn)
        return StompHandler(self, conn)

    def transport_name(self, binding: str) -> str:
        return binding + self.transport_suffix

    # --- life cycle ---------------------------------------------------
    def serve_in_thread(self) -> threading.Thread:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.set_exception_handler(_loop_exception)

            async def start() -> None:
                self._server = await self.loop.create_server(
                    lambda: Connection(self), sock=self._sock)
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="api-loop", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the API event loop did not start")
        return self._thread

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, close every connection, stop the loop."""
        if self._thread is None or not self.loop.is_running():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self.connections):
                conn.abort()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout)
        except Exception:
            log.exception("closing API connections failed")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def server_close(self) -> None:
        self.workers.stop(timeout=5)
        try:
            self._sock.close()
        except OSError as e:
            log.debug("closing the listening socket: %s", e)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A client going away is one INFO line; anything else a traceback."""
    error = context.get("exception")
    if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
        log.info("API connection ended: %s (%s)", context.get("message"), error)
        return
    log.error("API event loop: %s", context.get("message"),
              exc_info=error if isinstance(error, BaseException) else None)
