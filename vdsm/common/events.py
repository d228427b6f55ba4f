"""Agent events: subsystems publish, bindings deliver.

Subsystems get a :class:`Notifier` handed in by the agent and call
:meth:`Notifier.publish` on every state change worth pushing (a VM status,
a host network change, a task or storage domain state). They know nothing
of STOMP or JSON-RPC: the API layer subscribes a sink that forwards events
to its clients. Publishing never blocks and never fails the publisher:
sinks must only enqueue (the STOMP broker hands events to its event loop),
and a sink that raises is logged and kept.

Event ids follow the classic form ``|<subsystem>|<event>|<id>``:
``|virt|VM_status|<vmId>``, ``|net|host_conn|no_id``,
``|jobs|status|<jobId>``, ``|storage|domain_state|<sdUUID>``,
``|tasks|status|<taskID>``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

Sink = Callable[[str, dict[str, Any]], None]


def event_id(subsystem: str, event: str, ident: str = "no_id") -> str:
    """``event_id("virt", "VM_status", vm_id)`` -> ``|virt|VM_status|<id>``."""
    return f"|{subsystem}|{event}|{ident}"


class Publisher(Protocol):
    """What a subsystem needs to push events (a Notifier, or a test's list)."""

    def publish(self, event: str, params: dict[str, Any]) -> None: ...


class Notifier:
    """Fan-out of events to sinks. Thread-safe; publish never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: tuple[Sink, ...] = ()

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Add a sink; returns the function that removes it."""
        with self._lock:
            self._sinks = (*self._sinks, sink)

        def unsubscribe() -> None:
            with self._lock:
                self._sinks = tuple(s for s in self._sinks if s is not sink)
        return unsubscribe

    def publish(self, event: str, params: dict[str, Any]) -> None:
        """Deliver ``params`` (plus ``notify_time``, monotonic ms) to every sink."""
        params = dict(params)
        params["notify_time"] = int(time.monotonic() * 1000)
        log.debug("event %s", event)
        for sink in self._sinks:
            try:
                sink(event, params)
            except Exception:
                log.exception("event sink %r failed on %s", sink, event)


def publish_safely(publisher: Publisher, event: str,
                   params: dict[str, Any]) -> None:
    """Publish from a subsystem: whatever the publisher does, never raise."""
    try:
        publisher.publish(event, params)
    except Exception:
        log.exception("publishing %s failed", event)


class NullPublisher:
    """For code built without an agent (tests, tools): drops every event."""

    def publish(self, event: str, params: dict[str, Any]) -> None:
        return None
