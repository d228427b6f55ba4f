"""Process helpers for the bootstrap tests: states from /proc, bounded waits."""

from __future__ import annotations

import os
import signal
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def process_state(pid: int) -> str | None:
    """The /proc state letter of pid, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except FileNotFoundError:
        return None


def wait_exited(pid: int, timeout: float) -> bool:
    """True once pid is gone or a zombie (exited, not yet reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_state(pid) in (None, "Z"):
            return True
        time.sleep(0.02)
    return False


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; for test cleanup."""
    if process_state(pid) in (None, "Z"):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_exited(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        wait_exited(pid, 5.0)


def read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
