"""Run the HTTP transfer helper and follow its progress.

The helper (:mod:`vdsm.storage.transfer.http_helper`) is started through
:func:`vdsm.common.commands.start` (it dies with the agent), the request
headers written to its stdin, and its JSON lines read until it exits.
The whole transfer is bounded by ``timeout``: past it, or when
``aborting()`` turns true (polled by a watcher thread, so a stalled
server does not delay it), the helper's process group is killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from vdsm.common import commands
from vdsm.storage.errors import CopyImageError, ImageVerificationError

log = logging.getLogger(__name__)

HELPER = "vdsm.storage.transfer.http_helper"
WATCH_INTERVAL = 0.2


@dataclass(frozen=True)
class Result:
    bytes: int
    total: int
    resumes: int


def helper_argv(op: str, url: str, path: str, *, retries: int, timeout: float,
                cafile: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", HELPER, op, url, path,
            "--retries", str(retries), "--timeout", f"{timeout:g}"]
    if cafile:
        argv += ["--cafile", cafile]
    return argv


def error_for(event: dict[str, Any]) -> Exception:
    """The storage error a helper's error event stands for: a size that
    could not be verified is ImageVerificationError, anything else (HTTP
    status, refused connection) CopyImageError."""
    message = str(event.get("message", "transfer failed"))
    if event.get("kind") == "truncated":
        return ImageVerificationError(f"Image verification failed: {message}")
    return CopyImageError(f"Image transfer failed: {message}")


def run(op: str, url: str, path: str, *, headers: dict[str, str],
        progress: Callable[[float], None], aborting: Callable[[], bool],
        timeout: float, retries: int = 3, io_timeout: float = 60.0,
        cafile: str | None = None) -> Result:
    """GET ``url`` into ``path`` (op "get") or PUT ``path`` to it ("put").

    Raises ImageVerificationError (truncated, size mismatch),
    CopyImageError (any other failure, a timeout or an abort)."""
    argv = helper_argv(op, url, path, retries=retries, timeout=io_timeout,
                       cafile=cafile)
    try:
        proc = commands.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    except OSError as e:
        raise CopyImageError(f"cannot start the transfer helper: {e}") from None
    killed: list[str] = []

    def kill(reason: str) -> None:
        killed.append(reason)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            log.debug("transfer helper %d already gone", proc.pid)

    done = threading.Event()

    def watch() -> None:
        """Kill the helper past the deadline or on abort, even while it
        waits on a stalled server and reports nothing."""
        deadline = time.monotonic() + timeout
        while not done.wait(min(WATCH_INTERVAL, timeout)):
            if aborting():
                kill("aborted")
                return
            if time.monotonic() >= deadline:
                kill(f"timed out after {timeout:g}s")
                return

    watcher = threading.Thread(target=watch, name="transfer-watch", daemon=True)
    watcher.start()
    last: dict[str, Any] = {}
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(headers))
            proc.stdin.close()
        except BrokenPipeError:
            log.warning("transfer helper %d exited before reading its headers",
                        proc.pid)   # its exit status tells why
        for line in proc.stdout:
            event = _parse(line)
            if event is None:
                continue
            last = event
            kind = event.get("event")
            if kind == "progress" and event.get("total"):
                progress(100.0 * event["done"] / event["total"])
            elif kind == "resume":
                log.info("transfer %s %s: connection lost, resuming at offset %d of "
                         "%d", op, url, event["offset"], event["total"])
        err = proc.stderr.read() if proc.stderr is not None else ""
        rc = proc.wait(timeout=30)
    except BaseException:
        kill("agent error")
        proc.wait(timeout=30)
        raise
    finally:
        done.set()
        watcher.join(10)
    if killed:
        raise CopyImageError(f"Image transfer {op} {url}: {killed[0]}")
    if rc == 0 and last.get("event") == "done":
        return Result(int(last["bytes"]), int(last["total"]), int(last["resumes"]))
    if last.get("event") == "error":
        raise error_for(last)
    raise CopyImageError(f"transfer helper exited rc={rc}: {err.strip()[-500:]}")


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        log.warning("transfer helper said: %s", line.strip()[:200])
        return None
    return event if isinstance(event, dict) else None
