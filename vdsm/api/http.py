"""The HTTP side of a connection: XML-RPC on ``/RPC2`` (and ``/``), keep-alive.

Runs on the API event loop: it reads a whole request (head, then a body
of at most ``max_request_bytes``, both within ``request_timeout``) before
a worker sees it, answers one request at a time (pipelined requests wait
their turn), and keeps HTTP/1.1 connections open for the next call until
``idle_timeout``.
"""

from __future__ import annotations

import logging
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

from vdsm.api.dispatcher import CallContext

if TYPE_CHECKING:
    from vdsm.api.server import ApiServer, Connection

log = logging.getLogger(__name__)

RPC_PATHS = ("/", "/RPC2")
LINGER_SECONDS = 2.0


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request:
    def __init__(self, method: str, path: str, version: str,
                 headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers
        self.body = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.1":
            return "close" not in connection
        return "keep-alive" in connection


def parse_head(raw: bytes) -> Request:
    """The request line and headers (lower-cased names); raises BadRequest."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise BadRequest(HTTPStatus.BAD_REQUEST, "undecodable head") from None
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(HTTPStatus.BAD_REQUEST, "bad header line")
        headers.setdefault(name.lower(), value.strip())
    return Request(parts[0], parts[1], parts[2], headers)


def response(status: HTTPStatus, body: bytes, *, keep_alive: bool,
             content_type: str = "text/xml") -> bytes:
    head = [f"HTTP/1.1 {status.value} {status.phrase}",
            "Server: vdsm", f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
            "Connection: " + ("keep-alive" if keep_alive else "close")]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class HttpHandler:
    def __init__(self, server: ApiServer, conn: Connection) -> None:
        self._server = server
        self._conn = conn
        self._limits = server.limits
        self._buf = bytearray()
        self._request: Request | None = None
        self._length = 0
        self._busy = False  # a request is with a worker
        self._done = False

    # --- Handler --------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self._done:
            return
        if not self._buf and self._request is None and not self._busy:
            self._conn.set_deadline(self._limits.request_timeout, "HTTP request")
        self._buf += data
        self._advance()

    def closed(self) -> None:
        self._done = True

    # --- requests -------------------------------------------------------
    def _advance(self) -> None:
        while not self._busy and not self._done:
            try:
                if not self._read_request():
                    if len(self._buf) > self._limits.max_request_bytes:
                        self._conn.pause_reading()
                    return
            except BadRequest as e:
                log.info("[%s] bad HTTP request: %s", self._conn.peer, e)
                self._finish(e.status, f"{e}\n".encode(), keep_alive=False,
                             content_type="text/plain", linger=True)
                return
            request = self._request
            assert request is not None
            self._request = None
            self._conn.clear_deadline()
            self._serve(request)

    def _read_request(self) -> bool:
        if self._request is None:
            end = self._buf.find(b"\r\n\r\n")
            sep = 4
            if end == -1:
                end, sep = self._buf.find(b"\n\n"), 2
            if end == -1:
                if len(self._buf) > self._limits.max_header_bytes:
                    raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                     "request head too large")
                return False
            if end > self._limits.max_header_bytes:
                raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                 "request head too large")
            request = parse_head(bytes(self._buf[:end]))
            del self._buf[:end + sep]
            if "chunked" in request.headers.get("transfer-encoding", "").lower():
                raise BadRequest(HTTPStatus.LENGTH_REQUIRED,
                                 "chunked bodies are not accepted")
            length = request.headers.get("content-length", "0" if
                                         request.method == "GET" else "")
            if not length.isdigit():
                raise BadRequest(HTTPStatus.LENGTH_REQUIRED,
                                 "Content-Length required")
            self._length = int(length)
            if self._length > self._limits.max_request_bytes:
                log.warning("[%s] refused a request of %d bytes (limit %d)",
                            self._conn.peer, self._length,
                            self._limits.max_request_bytes)
                raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                 "Request too large")
            if request.headers.get("expect", "").lower() == "100-continue":
                self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._request = request
        if len(self._buf) < self._length:
            return False
        self._request.body = bytes(self._buf[:self._length])
        del self._buf[:self._length]
        return True

    def _serve(self, request: Request) -> None:
        keep_alive = request.keep_alive
        if request.path.split("?", 1)[0] not in RPC_PATHS:
            self._finish(HTTPStatus.NOT_FOUND, b"no such path\n",
                         keep_alive=keep_alive, content_type="text/plain")
            return
        if request.method != "POST":
            self._finish(HTTPStatus.METHOD_NOT_ALLOWED, b"XML-RPC needs POST\n",
                         keep_alive=keep_alive, content_type="text/plain")
            return
        ctx = _context(self._server, self._conn.peer, request)
        binding = self._server.xmlrpc
        body = request.body

        def done(answer: bytes | None, error: BaseException | None) -> None:
            self._busy = False
            if self._done:
                return
            if error is not None or answer is None:
                log.error("[%s] XML-RPC call failed in the binding",
                          self._conn.peer, exc_info=error)
                self._finish(HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n",
                             keep_alive=False, content_type="text/plain")
                return
            self._finish(HTTPStatus.OK, answer, keep_alive=keep_alive)

        self._busy = True
        if not self._server.workers.submit(lambda: binding.handle(body, ctx), done):
            self._busy = False
            log.warning("[%s] API workers busy: refusing a call", self._conn.peer)
            self._finish(HTTPStatus.SERVICE_UNAVAILABLE, b"server busy\n",
                         keep_alive=False, content_type="text/plain")

    def _finish(self, status: HTTPStatus, body: bytes, *, keep_alive: bool,
                content_type: str = "text/xml", linger: bool = False) -> None:
        self._conn.write(response(status, body, keep_alive=keep_alive,
                                  content_type=content_type))
        if not keep_alive:
            self._done = True
            if linger:
                # The client may still be sending the body we refused:
                # read and drop it for a moment so it gets our answer
                # instead of a reset.
                self._conn.resume_reading()
                self._conn.set_deadline(LINGER_SECONDS, "lingering close")
            else:
                self._conn.close()
            return
        self._conn.resume_reading()
        if self._buf:
            self._conn.set_deadline(self._limits.request_timeout, "HTTP request")
            self._server.loop.call_soon(self._advance)
        else:
            self._conn.set_deadline(self._limits.idle_timeout, "idle keep-alive")


def _context(server: ApiServer, peer: str, request: Request) -> CallContext:
    return CallContext(client=peer, transport=server.transport_name("xmlrpc"),
                       flow_id=request.headers.get("flowid"))
