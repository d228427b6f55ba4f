"""The resource manager: shared and exclusive locks on named resources.

A verb that touches a pool, a domain or an image takes locks on them by
(namespace, name) for its whole run. All locks of one request are taken
in one fixed order (sorted by namespace, then name), so two requests can
never wait on each other in a cycle; each lock is granted in arrival order
(a waiting exclusive request is not overtaken by later shared ones), and
the whole request gives up with ResourceTimeout after ``timeout`` seconds,
releasing what it already held.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

from vdsm.storage.errors import InvalidResourceName, ResourceTimeout

log = logging.getLogger(__name__)

SHARED = "shared"
EXCLUSIVE = "exclusive"


@dataclass(frozen=True, order=True)
class Request:
    namespace: str
    name: str
    mode: str = EXCLUSIVE

    def __post_init__(self) -> None:
        if self.mode not in (SHARED, EXCLUSIVE):
            raise ValueError(f"bad lock mode {self.mode!r}")
        if not self.namespace or not self.name or "/" in self.name:
            raise InvalidResourceName(
                f"Invalid resource name {self.namespace}/{self.name}")


class _Lock:
    """One resource: holders and a FIFO queue of waiting tickets."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.holders = 0
        self.queue: deque[tuple[object, str]] = deque()

    def can_grant(self, ticket: object, mode: str) -> bool:
        if not self.queue or self.queue[0][0] is not ticket:
            return False
        if self.holders == 0:
            return True
        return self.mode == SHARED and mode == SHARED


class ResourceManager:
    """Thread-safe; one per host."""

    def __init__(self, *, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._locks: dict[tuple[str, str], _Lock] = {}

    @contextlib.contextmanager
    def acquire(self, requests: Iterable[Request], *,
                timeout: float | None = None) -> Iterator[None]:
        """Hold every requested lock for the ``with`` block.

        The same resource named twice is taken once, exclusive if either
        asks for it. Raises ResourceTimeout (holding nothing) when the
        locks are not all granted within ``timeout`` seconds.
        """
        merged: dict[tuple[str, str], str] = {}
        for r in requests:
            key = (r.namespace, r.name)
            if merged.get(key) != EXCLUSIVE:
                merged[key] = r.mode
        ordered = sorted(merged.items())
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        held: list[tuple[str, str]] = []
        try:
            for key, mode in ordered:
                self._take(key, mode, deadline)
                held.append(key)
            yield
        finally:
            for key in reversed(held):
                self._release(key)

    def _take(self, key: tuple[str, str], mode: str, deadline: float) -> None:
        ticket = object()
        with self._cond:
            lock = self._locks.setdefault(key, _Lock())
            lock.queue.append((ticket, mode))
            while not lock.can_grant(ticket, mode):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    lock.queue.remove((ticket, mode))
                    self._cond.notify_all()
                    self._forget(key, lock)
                    raise ResourceTimeout(
                        f"Resource timeout: {key[0]}/{key[1]} ({mode}) not "
                        "granted in time", resource=f"{key[0]}/{key[1]}")
                self._cond.wait(remaining)
            lock.queue.popleft()
            lock.mode = mode
            lock.holders += 1
            self._cond.notify_all()  # the next shared waiter may go too

    def _release(self, key: tuple[str, str]) -> None:
        with self._cond:
            lock = self._locks[key]
            lock.holders -= 1
            if lock.holders == 0:
                lock.mode = None
            self._forget(key, lock)
            self._cond.notify_all()

    def _forget(self, key: tuple[str, str], lock: _Lock) -> None:
        if lock.holders == 0 and not lock.queue:
            self._locks.pop(key, None)

    def holders(self, namespace: str, name: str) -> tuple[str | None, int]:
        """(mode, number of holders) of a resource, for tests and debugging."""
        with self._cond:
            lock = self._locks.get((namespace, name))
            return (lock.mode, lock.holders) if lock else (None, 0)
