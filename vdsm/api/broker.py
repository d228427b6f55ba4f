"""A small in-process STOMP broker: destinations, subscriptions, delivery.

Lives on the API event loop (no locks: only the loop thread touches it).
Replies to JSON-RPC calls, messages clients SEND to each other, and the
agent's events all go out the same way: to every subscription of the
destination, as a MESSAGE carrying that subscription's id (a client drops
a MESSAGE without it). A subscriber whose unsent data grows past
``max_pending_bytes`` has stopped reading: it is disconnected with a log
line rather than letting its backlog grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from vdsm.api.stomp import Frame

log = logging.getLogger(__name__)

EVENTS = "jms.queue.events"
REQUESTS = frozenset({"jms.topic.vdsm_requests", "jms.topic.vdsm_irs_requests"})
RESPONSES = "jms.topic.vdsm_responses"


class Subscriber(Protocol):
    """The side of a STOMP connection the broker writes to."""

    peer: str

    def send_frame(self, frame: Frame) -> None: ...

    def pending_bytes(self) -> int: ...

    def drop(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Subscription:
    conn: Subscriber
    sub_id: str
    destination: str


class Broker:
    def __init__(self, loop: asyncio.AbstractEventLoop, *,
                 max_pending_bytes: int = 16 << 20) -> None:
        self._loop = loop
        self._max_pending = max_pending_bytes
        self._by_dest: dict[str, dict[tuple[int, str], Subscription]] = {}
        self.dropped_subscribers = 0

    def subscribe(self, conn: Subscriber, sub_id: str, destination: str) -> None:
        self._by_dest.setdefault(destination, {})[(id(conn), sub_id)] = \
            Subscription(conn, sub_id, destination)

    def unsubscribe(self, conn: Subscriber, sub_id: str, destination: str) -> None:
        subs = self._by_dest.get(destination)
        if subs is None:
            return
        subs.pop((id(conn), sub_id), None)
        if not subs:
            del self._by_dest[destination]

    def has_subscribers(self, destination: str) -> bool:
        return bool(self._by_dest.get(destination))

    def subscriptions(self, destination: str) -> list[Subscription]:
        return list(self._by_dest.get(destination, {}).values())

    def deliver(self, destination: str, body: bytes, *,
                headers: dict[str, str] | None = None,
                only: Subscriber | None = None) -> int:
        """MESSAGE ``body`` to the subscribers of ``destination`` (or to
        ``only``'s subscriptions there); returns how many got it."""
        count = 0
        for sub in self.subscriptions(destination):
            if only is not None and sub.conn is not only:
                continue
            if sub.conn.pending_bytes() > self._max_pending:
                self.dropped_subscribers += 1
                log.warning("[%s] dropping subscriber of %s: %d bytes unread "
                            "(limit %d)", sub.conn.peer, destination,
                            sub.conn.pending_bytes(), self._max_pending)
                sub.conn.drop("subscriber fell behind")
                continue
            frame_headers = {"destination": destination,
                             "subscription": sub.sub_id,
                             "message-id": str(uuid.uuid4()),
                             "content-type": "application/json"}
            if headers:
                frame_headers.update(headers)
            sub.conn.send_frame(Frame("MESSAGE", frame_headers, body))
            count += 1
        return count

    def publish_threadsafe(self, destination: str, body: bytes) -> None:
        """From any thread: deliver on the loop, in call order, never blocking."""
        try:
            self._loop.call_soon_threadsafe(self.deliver, destination, body)
        except RuntimeError:
            log.debug("API loop closed; event for %s dropped", destination)

    def forget(self, conn: Subscriber) -> None:
        for destination in list(self._by_dest):
            subs = self._by_dest[destination]
            for key in [k for k, s in subs.items() if s.conn is conn]:
                del subs[key]
            if not subs:
                del self._by_dest[destination]
