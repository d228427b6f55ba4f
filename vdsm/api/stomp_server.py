"""The STOMP side of a connection: session, subscriptions, calls, heart-beats.

Runs on the API event loop. A client CONNECTs (and, as vdsm-client does,
SUBSCRIBEs to its reply queue without waiting for CONNECTED), then SENDs
JSON-RPC requests to ``jms.topic.vdsm_requests``; each whole request goes
to a worker and its answer comes back as a MESSAGE on the ``reply-to``
destination. A client with too many calls in flight is not read from
until some finish. Anything malformed gets one ERROR frame and the
connection is closed; other clients never notice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from vdsm.api import broker as brk
from vdsm.api import stomp
from vdsm.api.dispatcher import CallContext
from vdsm.api.jsonrpc import INTERNAL_ERROR, notification
from vdsm.api.stomp import Frame, FrameError

if TYPE_CHECKING:
    import asyncio

    from vdsm.api.server import ApiServer, Connection

log = logging.getLogger(__name__)

VERSION = "1.2"
INLINE_MAX_BYTES = 4096


def busy_answer(body: bytes) -> bytes | None:
    """The 'server busy' error for every call in a request we cannot queue."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return None
    calls = request if isinstance(request, list) else [request]
    answers = [{"jsonrpc": "2.0", "id": c.get("id"),
                "error": {"code": INTERNAL_ERROR,
                          "message": "Server busy: too many calls in progress, "
                                     "try again"}}
               for c in calls if isinstance(c, dict) and "id" in c]
    if not answers:
        return None
    return json.dumps(answers if isinstance(request, list) else answers[0]).encode()


class StompHandler:
    def __init__(self, server: ApiServer, conn: Connection) -> None:
        self._server = server
        self._conn = conn
        self._limits = server.limits
        self.peer = conn.peer
        self._parser = stomp.Parser(max_header_bytes=self._limits.max_header_bytes,
                                    max_body_bytes=self._limits.max_request_bytes)
        self._connected = False
        self._failed = False
        self._subs: dict[str, str] = {}
        self._inflight = 0
        self._paused = False
        self._last_write = self._last_read = time.monotonic()
        self._send_every = 0.0
        self._expect_every = 0.0
        self._timer: asyncio.TimerHandle | None = None
        conn.set_deadline(self._limits.request_timeout, "STOMP CONNECT")

    # --- Handler --------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._last_read = time.monotonic()
        if self._failed:
            return
        try:
            frames = self._parser.feed(data)
        except FrameError as e:
            self._fail(str(e))
            return
        for frame in frames:
            if self._failed or self._conn.is_closed:
                return
            try:
                self._on_frame(frame)
            except FrameError as e:
                self._fail(str(e))
                return
        if self._connected and not self._failed:
            if self._parser.buffered:
                self._conn.set_deadline(self._limits.request_timeout,
                                        "a STOMP frame")
            else:
                self._conn.clear_deadline()

    def closed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.broker.forget(self)
        if self._inflight:
            log.info("[%s] STOMP client left with %d call(s) in progress",
                     self.peer, self._inflight)

    # --- Subscriber -----------------------------------------------------
    def send_frame(self, frame: Frame) -> None:
        self._conn.write(frame.encode())
        self._last_write = time.monotonic()

    def pending_bytes(self) -> int:
        return self._conn.pending_bytes()

    def drop(self, reason: str) -> None:
        log.warning("[%s] disconnecting STOMP client: %s", self.peer, reason)
        self._conn.abort()

    # --- frames ---------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        command = frame.command
        if not self._connected:
            if command not in ("CONNECT", "STOMP"):
                raise FrameError(f"expected CONNECT, got {command}")
            self._connect(frame)
            return
        handler = {"SEND": self._send, "SUBSCRIBE": self._subscribe,
                   "UNSUBSCRIBE": self._unsubscribe,
                   "DISCONNECT": self._disconnect}.get(command)
        if command in ("CONNECT", "STOMP"):
            raise FrameError("already connected")
        if handler is not None:
            handler(frame)
        else:
            log.debug("[%s] ignoring %s (no transactions or acks here)",
                      self.peer, command)
        if command != "DISCONNECT":
            self._receipt(frame)

    def _connect(self, frame: Frame) -> None:
        versions = frame.headers.get("accept-version", "1.0").split(",")
        if VERSION not in [v.strip() for v in versions]:
            raise FrameError(f"unsupported STOMP version(s) {versions[:4]}; "
                             f"this server speaks {VERSION}")
        cx, cy = stomp.parse_heartbeat(frame.headers.get("heart-beat"))
        ours = self._limits.heartbeat_ms
        send_ms = min(cy, ours) if cy and ours else 0
        want_ms = cx if cx else 0
        self._send_every = send_ms / 1000
        self._expect_every = want_ms / 1000
        self._connected = True
        self._conn.clear_deadline()
        self.send_frame(Frame("CONNECTED", {
            "version": VERSION, "heart-beat": f"{send_ms},{want_ms}",
            "server": "vdsm", "session": str(uuid.uuid4())}))
        log.info("[%s] STOMP session open (heart-beats out %d ms, in %d ms)",
                 self.peer, send_ms, want_ms)
        if self._send_every or self._expect_every:
            self._schedule()

    def _subscribe(self, frame: Frame) -> None:
        destination = _required(frame, "destination")
        sub_id = _required(frame, "id")
        if frame.headers.get("ack", "auto") != "auto":
            raise FrameError("only ack:auto subscriptions are served")
        if sub_id in self._subs:
            raise FrameError(f"subscription id {sub_id!r} already in use")
        self._subs[sub_id] = destination
        self._server.broker.subscribe(self, sub_id, destination)
        log.debug("[%s] subscribed %s to %s", self.peer, sub_id, destination)

    def _unsubscribe(self, frame: Frame) -> None:
        sub_id = _required(frame, "id")
        destination = self._subs.pop(sub_id, None)
        if destination is None:
            log.info("[%s] UNSUBSCRIBE of unknown id %r", self.peer, sub_id)
            return
        self._server.broker.unsubscribe(self, sub_id, destination)

    def _disconnect(self, frame: Frame) -> None:
        receipt = frame.headers.get("receipt")
        if receipt:
            self.send_frame(Frame("RECEIPT", {"receipt-id": receipt}))
        log.info("[%s] STOMP client disconnected", self.peer)
        self._failed = True  # read nothing more
        self._conn.close()

    def _send(self, frame: Frame) -> None:
        destination = _required(frame, "destination")
        broker = self._server.broker
        if destination in brk.REQUESTS:
            self._call(frame)
        elif broker.has_subscribers(destination):
            broker.deliver(destination, frame.body, headers={
                "content-type": frame.headers.get("content-type",
                                                  "application/json")})
        elif destination == brk.EVENTS:
            log.debug("[%s] message to %s with no subscriber", self.peer,
                      destination)
        else:
            raise FrameError(f"unknown destination {destination[:100]!r}")

    def _call(self, frame: Frame) -> None:
        reply_to = frame.headers.get("reply-to") or brk.RESPONSES
        ctx = CallContext(client=self.peer,
                          transport=self._server.transport_name("jsonrpc"),
                          flow_id=frame.headers.get("ovirtCorrelationId"))
        body = frame.body
        binding = self._server.jsonrpc
        if len(body) <= INLINE_MAX_BYTES:
            # small requests are parsed here; verbs answered from memory
            # (schema: inline) are answered here too, with no thread hop
            request, error = binding.parse(body, ctx)
            if error is not None:
                self._reply(reply_to, error)
                return
            if binding.inline(request):
                answer = binding.answer(request, ctx)
                if answer is not None:
                    self._reply(reply_to, answer)
                return
            work = lambda: binding.answer(request, ctx)  # noqa: E731
        else:
            work = lambda: binding.handle(body, ctx)  # noqa: E731

        def done(answer: bytes | None, error: BaseException | None) -> None:
            self._inflight -= 1
            limit = self._limits.max_inflight_per_connection
            if self._paused and self._inflight < limit:
                self._paused = False
                self._conn.resume_reading()
            if error is not None:
                log.error("[%s] JSON-RPC call failed in the binding",
                          self.peer, exc_info=error)
                return
            if answer is not None and not self._conn.is_closed:
                self._reply(reply_to, answer)

        if not self._server.workers.submit(work, done):
            log.warning("[%s] API workers busy: refusing a call", self.peer)
            answer = busy_answer(body)
            if answer is not None:
                self._reply(reply_to, answer)
            return
        self._inflight += 1
        if self._inflight >= self._limits.max_inflight_per_connection:
            self._paused = True
            self._conn.pause_reading()

    def _reply(self, destination: str, answer: bytes) -> None:
        if self._server.broker.deliver(destination, answer):
            return
        # nobody subscribed to the reply queue: answer on this connection
        log.debug("[%s] no subscription to %s; answering directly",
                  self.peer, destination)
        self.send_frame(Frame("MESSAGE", {
            "destination": destination, "message-id": str(uuid.uuid4()),
            "content-type": "application/json"}, answer))

    def _receipt(self, frame: Frame) -> None:
        receipt = frame.headers.get("receipt")
        if receipt:
            self.send_frame(Frame("RECEIPT", {"receipt-id": receipt}))

    def _fail(self, message: str) -> None:
        log.info("[%s] STOMP protocol error, closing: %s", self.peer, message)
        self._failed = True
        self.send_frame(stomp.error_frame(message))
        self._conn.close()

    # --- heart-beats ----------------------------------------------------
    def _schedule(self) -> None:
        periods = [p for p in (self._send_every, self._expect_every) if p]
        self._timer = self._server.loop.call_later(min(periods) / 2, self._beat)

    def _beat(self) -> None:
        self._timer = None
        if self._conn.is_closed:
            return
        now = time.monotonic()
        if self._send_every and now - self._last_write >= self._send_every * 0.5:
            self._conn.write(b"\n")
            self._last_write = now
        if self._expect_every and now - self._last_read > self._expect_every * 3:
            log.info("[%s] no heart-beat from the client for %.1f s: closing",
                     self.peer, now - self._last_read)
            self._conn.abort()
            return
        self._schedule()


def _required(frame: Frame, header: str) -> str:
    value = frame.headers.get(header)
    if not value:
        raise FrameError(f"{frame.command} needs a {header!r} header")
    return value


def event_sink(server: ApiServer) -> Any:
    """A Notifier sink delivering events to ``jms.queue.events`` subscribers."""
    def sink(event: str, params: dict[str, Any]) -> None:
        server.broker.publish_threadsafe(brk.EVENTS, notification(event, params))
    return sink
