"""A JSON-RPC over STOMP client: what the engine and vdsm-client speak.

Behaves as those clients do (see jsonrpc-stomp.md in the API reference):
CONNECT with ``heart-beat:0,24000`` and, without waiting for CONNECTED,
SUBSCRIBE to a private reply queue; every call is a one-element batch
SENT to ``jms.topic.vdsm_requests`` with ``reply-to`` that queue; answers
are matched by id on a reader thread (TLS on memory BIOs, see
:mod:`vdsm_cli.channel`, as an SSL socket cannot be read and written
from two threads at once). Used by ``vdsClient --jsonrpc``,
the tests and the benchmarks.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import uuid
from typing import Any, Callable

from vdsm.api.stomp import SERVER_COMMANDS, Frame, FrameError, Parser
from vdsm_cli.channel import Channel, TlsChannel

log = logging.getLogger(__name__)

REQUESTS = "jms.topic.vdsm_requests"
EVENTS = "jms.queue.events"


class JsonRpcError(Exception):
    """The agent answered an error: ``code`` and ``message`` as on the wire."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


class ClientError(Exception):
    """The connection failed, timed out or the server sent ERROR."""


class ClientTimeout(ClientError):
    """No CONNECTED or no answer within the time allowed."""


class ClientClosed(ClientError):
    """The connection ended (or the server sent ERROR) before the answer.

    ``__cause__`` is the socket error that ended it, when there was one
    (an ssl.SSLError for a refused client certificate under TLS 1.3).
    """


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.answer: dict[str, Any] | None = None


class StompClient:
    """One STOMP session over a socket (TLS or plain). Thread-safe calls."""

    def __init__(self, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None, timeout: float = 60.0,
                 connect_timeout: float = 15.0,
                 heart_beat: str = "0,24000") -> None:
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            self._channel = (TlsChannel(raw, ssl_context, server_hostname=host)
                             if ssl_context is not None else Channel(raw))
        except BaseException:
            raw.close()
            raise
        self._channel.settimeout(None)
        self._lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self._subscriptions: dict[str, Callable[[Frame], None]] = {}
        self._connected = threading.Event()
        self.error: Frame | None = None
        self.failure: OSError | FrameError | None = None
        self.connected = False
        self.closed = threading.Event()
        self.heartbeats = 0
        self.reply_queue = str(uuid.uuid4())
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name="stomp-client-reader")
        self._reader.start()
        self.send_frame(Frame("CONNECT", {"accept-version": "1.2",
                                          "host": host,
                                          "heart-beat": heart_beat}))
        self.subscribe(self.reply_queue, self._on_reply)
        if not self._connected.wait(connect_timeout) or not self.connected:
            error = self._failed("no CONNECTED from the agent")
            self.close()
            raise error from self.failure

    # --- frames -----------------------------------------------------------
    def send_frame(self, frame: Frame) -> None:
        self._channel.send(frame.encode())

    def send_raw(self, data: bytes) -> None:
        self._channel.send(data)

    def subscribe(self, destination: str,
                  callback: Callable[[Frame], None]) -> str:
        sub_id = str(uuid.uuid4())
        with self._lock:
            self._subscriptions[sub_id] = callback
        self.send_frame(Frame("SUBSCRIBE", {"destination": destination,
                                            "id": sub_id, "ack": "auto"}))
        return sub_id

    def unsubscribe(self, sub_id: str) -> None:
        with self._lock:
            self._subscriptions.pop(sub_id, None)
        self.send_frame(Frame("UNSUBSCRIBE", {"id": sub_id}))

    def _read(self) -> None:
        parser = Parser(commands=SERVER_COMMANDS, max_body_bytes=256 << 20)
        try:
            while True:
                data = self._channel.recv()
                if not data:
                    break
                before = parser.heartbeats
                for frame in parser.feed(data):
                    self._on_frame(frame)
                self.heartbeats += parser.heartbeats - before
        except (OSError, FrameError) as e:
            if not self.closed.is_set():
                self.failure = e
                log.debug("STOMP client reader stops: %s", e)
        finally:
            self.closed.set()
            self._connected.set()
            with self._lock:
                waiters = list(self._waiters.values())
            for waiter in waiters:
                waiter.event.set()

    def _on_frame(self, frame: Frame) -> None:
        if frame.command == "CONNECTED":
            self.connected = True
            self._connected.set()
        elif frame.command == "ERROR":
            self.error = frame
            log.warning("agent sent ERROR: %s", frame.headers.get("message"))
        elif frame.command == "MESSAGE":
            with self._lock:
                callback = self._subscriptions.get(
                    frame.headers.get("subscription", ""))
            if callback is None:
                log.debug("MESSAGE without a known subscription dropped")
                return
            callback(frame)

    def _on_reply(self, frame: Frame) -> None:
        try:
            answer = json.loads(frame.body)
        except ValueError:
            log.warning("unparsable answer dropped")
            return
        for one in answer if isinstance(answer, list) else [answer]:
            if not isinstance(one, dict):
                continue
            with self._lock:
                waiter = self._waiters.get(str(one.get("id")))
            if waiter is not None:
                waiter.answer = one
                waiter.event.set()

    # --- calls --------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, *,
             timeout: float | None = None, flow_id: str | None = None) -> Any:
        """The result; raises JsonRpcError for an error answer."""
        answer = self.call_raw(method, params or {}, timeout=timeout,
                               flow_id=flow_id)
        if "error" in answer:
            error = answer["error"]
            raise JsonRpcError(error.get("code"), error.get("message"))
        return answer.get("result")

    def call_raw(self, method: str, params: Any, *,
                 timeout: float | None = None,
                 flow_id: str | None = None) -> dict[str, Any]:
        ident = str(uuid.uuid4())
        request = [{"jsonrpc": "2.0", "method": method, "params": params,
                    "id": ident}]
        waiter = _Waiter()
        with self._lock:
            self._waiters[ident] = waiter
        try:
            self.send_request(json.dumps(request).encode(), flow_id=flow_id)
            if not waiter.event.wait(timeout or self.timeout) or \
                    waiter.answer is None:
                raise self._failed(f"no answer to {method}") from self.failure
            return waiter.answer
        finally:
            with self._lock:
                self._waiters.pop(ident, None)

    def send_request(self, body: bytes, *, flow_id: str | None = None,
                     destination: str = REQUESTS) -> None:
        headers = {"destination": destination,
                   "content-type": "application/json",
                   "reply-to": self.reply_queue}
        if flow_id:
            headers["ovirtCorrelationId"] = flow_id
        self.send_frame(Frame("SEND", headers, body))

    def _failed(self, what: str) -> ClientError:
        if self.error is not None:
            return ClientClosed(f"{what}: agent sent ERROR: "
                                f"{self.error.headers.get('message')}")
        if self.closed.is_set():
            reason = f" ({self.failure})" if self.failure else ""
            return ClientClosed(f"{what}: connection closed{reason}")
        return ClientTimeout(f"{what}: timed out")

    def close(self) -> None:
        self.closed.set()
        self._channel.close()
        self._reader.join(5)

    def __enter__(self) -> StompClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
