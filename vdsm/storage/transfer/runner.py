"""Run the HTTP transfer helper and follow its progress.

The helper (:mod:`vdsm.storage.transfer.http_helper`) is started through
:func:`vdsm.common.commands.start` (it dies with the agent), the URL and
the request headers written to its stdin (never its command line: they
may carry a ticket), and its JSON lines read until it exits. With
``on_size`` a GET waits until ``on_size(total)`` returned (it may grow
the target or refuse the image by raising) before writing a byte.
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
from vdsm.storage.transfer.http_helper import shown_url

log = logging.getLogger(__name__)

HELPER = "vdsm.storage.transfer.http_helper"
WATCH_INTERVAL = 0.2


@dataclass(frozen=True)
class Result:
    bytes: int
    total: int
    resumes: int


def helper_argv(op: str, path: str, *, retries: int, timeout: float,
                cafile: str | None = None, confirm_size: bool = False,
                device: bool = False) -> list[str]:
    argv = [sys.executable, "-m", HELPER, op, path,
            "--retries", str(retries), "--timeout", f"{timeout:g}"]
    if cafile:
        argv += ["--cafile", cafile]
    if confirm_size:
        argv.append("--confirm-size")
    if device:
        argv.append("--device")
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
        cafile: str | None = None, on_size: Callable[[int], None] | None = None,
        device: bool = False) -> Result:
    """GET ``url`` into ``path`` (op "get") or PUT ``path`` to it ("put").
    ``device``: ``path`` is a block device (an LV) that must hold the image.

    Raises ImageVerificationError (truncated, size mismatch),
    CopyImageError (any other failure, a timeout or an abort) and what
    ``on_size`` raises (the helper is killed first)."""
    confirm = op == "get" and on_size is not None
    argv = helper_argv(op, path, retries=retries, timeout=io_timeout,
                       cafile=cafile, confirm_size=confirm, device=device)
    shown = shown_url(url)
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
            proc.stdin.write(json.dumps({"url": url, "headers": headers}) + "\n")
            proc.stdin.flush()
            if not confirm:
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
            elif kind == "size" and on_size is not None:
                on_size(int(event["total"]))
                _answer(proc, "go")
            elif kind == "resume":
                log.info("transfer %s %s: connection lost, resuming at offset %d of "
                         "%d", op, shown, event["offset"], event["total"])
        err = proc.stderr.read() if proc.stderr is not None else ""
        rc = proc.wait(timeout=30)
    except BaseException:
        kill("agent error")
        proc.wait(timeout=30)
        raise
    finally:
        done.set()
        watcher.join(10)
        _close(proc.stdin)
    if killed:
        raise CopyImageError(f"Image transfer {op} {shown}: {killed[0]}")
    if rc == 0 and last.get("event") == "done":
        return Result(int(last["bytes"]), int(last["total"]), int(last["resumes"]))
    if last.get("event") == "error":
        raise error_for(last)
    raise CopyImageError(f"transfer helper exited rc={rc}: {err.strip()[-500:]}")


def _answer(proc: subprocess.Popen, line: str) -> None:
    """Tell a helper waiting on its size to go on (it reads one line)."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(line + "\n")
        proc.stdin.close()
    except BrokenPipeError:
        log.warning("transfer helper %d exited before its answer", proc.pid)


def _close(pipe: Any) -> None:
    if pipe is not None and not pipe.closed:
        try:
            pipe.close()
        except BrokenPipeError:
            log.debug("transfer helper's stdin already broken")


def _parse(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        log.warning("transfer helper said: %s", line.strip()[:200])
        return None
    return event if isinstance(event, dict) else None
