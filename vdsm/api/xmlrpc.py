"""The classic XML-RPC binding, over mutual TLS, with a bounded worker pool.

The listening thread only accepts; TLS handshakes and requests run in a
fixed number of worker threads fed by a bounded queue, so a silent or
hostile client can hold one worker for at most ``connection_timeout`` and
never the accept loop. Connections beyond the queue are closed at once.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
import xmlrpc.client
import xmlrpc.server
from typing import Any

from vdsm.api.dispatcher import CallContext, Dispatcher, UnknownVerb

log = logging.getLogger(__name__)

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

_current = threading.local()


def wire_safe(value: Any) -> Any:
    """Make a value XML-RPC can carry: big integers become strings.

    The classic agent sends sizes and counters beyond 32 bits as decimal
    strings; clients convert them back.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if INT32_MIN <= value <= INT32_MAX:
            return value
        return str(value)
    if isinstance(value, dict):
        return {str(k): wire_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_safe(v) for v in value]
    return value


class _RequestHandler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")
    # One request per connection: a keep-alive client would otherwise pin
    # a worker while idle and starve the others.
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)

    def do_POST(self) -> None:
        length = self.headers.get("content-length")
        try:
            size = int(length) if length is not None else -1
        except ValueError:
            size = -1
        if size < 0:
            self.send_error(411, "Content-Length required")
            return
        if size > self.server.max_request_bytes:
            log.warning("[%s] refused a request of %d bytes (limit %d)",
                        self._client(), size, self.server.max_request_bytes)
            self.send_error(413, "Request too large")
            return
        _current.client = self._client()
        try:
            super().do_POST()
        finally:
            _current.client = None

    def _client(self) -> str:
        host, port = self.client_address[:2]
        return f"{host}:{port}"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("[%s] http: " + format, self._client(), *args)


class _Methods:
    """The object SimpleXMLRPCDispatcher hands every non-system call to."""

    def __init__(self, dispatcher: Dispatcher, transport: str) -> None:
        self._dispatcher = dispatcher
        self._transport = transport

    def _listMethods(self) -> list[str]:  # noqa: N802 (xmlrpc.server protocol)
        return self._dispatcher.schema.names()

    def _methodHelp(self, name: str) -> str:  # noqa: N802
        verb = self._dispatcher.schema.get(name)
        return verb.description if verb else ""

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> Any:
        ctx = CallContext(client=getattr(_current, "client", None) or "?",
                          transport=self._transport)
        try:
            answer = self._dispatcher.call_positional(method, params, ctx)
        except UnknownVerb as e:
            log.info("[%s] unknown verb %r", ctx.client, method)
            raise xmlrpc.client.Fault(1, str(e)) from None
        return wire_safe(answer)


class XmlRpcServer(xmlrpc.server.SimpleXMLRPCServer):
    """Serve a Dispatcher over XML-RPC, TLS or (loopback only) plain TCP."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, dispatcher: Dispatcher, address: tuple[str, int], *,
                 ssl_context: ssl.SSLContext | None, workers: int = 8,
                 queue_size: int = 256, max_request_bytes: int = 10 << 20,
                 connection_timeout: float = 60.0) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.request_queue_size = max(queue_size, 5)
        super().__init__(address, requestHandler=_RequestHandler,
                         logRequests=False, allow_none=True,
                         bind_and_activate=True)
        self.ssl_context = ssl_context
        self.max_request_bytes = max_request_bytes
        self.connection_timeout = connection_timeout
        self.register_introspection_functions()
        transport = "xmlrpc+tls" if ssl_context else "xmlrpc"
        self.register_instance(_Methods(dispatcher, transport))
        self._queue: queue.Queue[tuple[socket.socket, Any] | None] = \
            queue.Queue(maxsize=queue_size)
        self._workers = [
            threading.Thread(target=self._work, name=f"rpc-worker-{i}",
                             daemon=True)
            for i in range(workers)]
        for t in self._workers:
            t.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def _marshaled_dispatch(self, data: bytes, dispatch_method: Any = None,
                            path: Any = None) -> bytes:
        try:
            xmlrpc.client.loads(data, use_builtin_types=True)
        except Exception as e:  # noqa: BLE001 - any parse failure is the client's
            log.info("[%s] malformed XML-RPC request: %s",
                     getattr(_current, "client", "?"), e)
            fault = xmlrpc.client.Fault(
                1, f"Malformed XML-RPC request: {type(e).__name__}: {e}")
            return xmlrpc.client.dumps(fault, allow_none=True).encode()
        return super()._marshaled_dispatch(data, dispatch_method, path)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            log.warning("request queue full, dropping connection from %s",
                        client_address)
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            conn, client_address = item
            try:
                if self.ssl_context is not None:
                    conn = self._handshake(conn, client_address)
                if conn is not None:
                    self.finish_request(conn, client_address)
            except Exception:
                log.exception("error serving %s", client_address)
            finally:
                if conn is not None:
                    self.shutdown_request(conn)
                else:
                    self.shutdown_request(item[0])

    def _handshake(self, sock: socket.socket,
                   client_address: Any) -> ssl.SSLSocket | None:
        """TLS server handshake in a worker; None when the client is refused."""
        sock.settimeout(self.connection_timeout)
        start = time.monotonic()
        try:
            return self.ssl_context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log.info("TLS handshake with %s:%s refused after %.3f s: %s",
                     client_address[0], client_address[1],
                     time.monotonic() - start, e)
            return None

    def shutdown_request(self, request: socket.socket) -> None:
        try:
            request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the peer may already be gone; closing is what matters
        request.close()

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever,
                                  kwargs={"poll_interval": 0.2},
                                  name="rpc-accept", daemon=True)
        thread.start()
        return thread
