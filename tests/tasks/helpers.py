"""Helpers for the task manager tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {predicate}")
        time.sleep(0.01)


def error_code(error: BaseException) -> int:
    """A tiny stand-in for the API's name -> code table."""
    return {"TaskAborted": 411, "Boom": 999}.get(getattr(error, "name", ""), 100)


class Journal:
    """Records which undo steps ran, in order; thread-safe."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._lock = threading.Lock()

    def add(self, entry: str) -> None:
        with self._lock:
            self.entries.append(entry)


def slow_job(ctx, *, seconds: float = 10.0, linger: float = 0.0) -> str:
    """Work in small bounded sleeps until done or stopped."""
    ctx.add_recovery("undo", {"step": "slow"})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.wait(0.02):
            time.sleep(linger)  # let a test see the aborting state
            ctx.check_abort()
    return "slept"
