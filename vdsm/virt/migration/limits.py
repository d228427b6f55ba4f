"""How many migrations a host sends and receives at once.

A counting semaphore whose bound can change while it is held: the engine
passes ``outgoingLimit``/``incomingLimit`` with each migration, and the
newest value applies to the next acquisition.
"""

from __future__ import annotations

import threading
from typing import Callable


class Slots:
    def __init__(self, bound: int) -> None:
        self._cond = threading.Condition()
        self._bound = max(1, bound)
        self._used = 0

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    def set_bound(self, bound: int | None) -> None:
        if bound is None or bound < 1:
            return
        with self._cond:
            self._bound = bound
            self._cond.notify_all()

    def try_acquire(self) -> bool:
        with self._cond:
            if self._used >= self._bound:
                return False
            self._used += 1
            return True

    def acquire(self, timeout: float, cancelled: Callable[[], bool]) -> bool:
        """Wait (at most ``timeout``) for a slot; False when the wait ended
        without one (timed out or ``cancelled`` became true)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: cancelled() or self._used < self._bound, timeout)
            if not ok or cancelled():
                return False
            self._used += 1
            return True

    def wake(self) -> None:
        """Let waiters re-check their cancellation."""
        with self._cond:
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._used = max(0, self._used - 1)
            self._cond.notify_all()
