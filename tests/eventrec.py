"""A recording publisher/sink for the event tests."""

from __future__ import annotations

import threading
import time
from typing import Any


class Recorder:
    """Records ``(event, params)``; usable as a Publisher or a Notifier sink."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, event: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((event, params))

    __call__ = publish

    def of(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for e, p in self.events if e == event]

    def wait(self, predicate: Any, timeout: float, what: str) -> list[Any]:
        """Wait (bounded) until ``predicate(events)`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                events = list(self.events)
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for "
                                     f"{what}; events: {events}")
            time.sleep(0.05)


class Raising:
    """A publisher that always fails: publishing must not break anything."""

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, event: str, params: dict[str, Any]) -> None:
        self.calls += 1
        raise RuntimeError("publisher broken")
