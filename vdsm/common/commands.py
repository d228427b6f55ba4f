"""The one way the agent runs a program.

Argument lists only (never a shell), a timeout always, secrets masked in
the log, the child killed on any exception, and killed with the agent
(:mod:`vdsm.common.spawn`). Tool wrappers (qemu-img, lvm,
ip, ...) build on :func:`run` and map its :class:`CommandError` to their own
errors.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from vdsm.common import spawn

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


class CommandError(Exception):
    """A command exited non-zero, timed out, or could not be started."""

    def __init__(self, cmd: Sequence[str], rc: int | None, out: str, err: str,
                 reason: str = "") -> None:
        self.cmd = list(cmd)
        self.rc = rc
        self.out = out
        self.err = err
        self.reason = reason or f"exited with rc={rc}"
        super().__init__(
            f"Command {format_argv(cmd)} {self.reason}: {err.strip()[:500]}")


@dataclass(frozen=True)
class CommandResult:
    cmd: list[str]
    rc: int
    out: str
    err: str
    elapsed: float


def format_argv(argv: Sequence[str], secrets: Sequence[str] = ()) -> str:
    """Render argv for a log line, masking any argument that is a secret."""
    return " ".join("****" if a in secrets else _quote(a) for a in argv)


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./=:,@+%" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _kill_group(proc: subprocess.Popen) -> tuple[str, str]:
    """Kill the child and everything it started (its own session).

    Killing only the child is not enough: a grandchild holding the output
    pipes would keep communicate() waiting long after the timeout.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        log.error("pid %d did not exit after SIGKILL", proc.pid)
        out, err = "", ""
    return out or "", err or ""


def start(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          **kwargs: Any) -> subprocess.Popen:
    """Start a long-lived helper (subprocess.Popen's keywords) that talks
    to the agent over pipes; it dies with the agent. The caller owns it:
    stop it by its pid. Raises OSError when it cannot be started."""
    argv = [os.fspath(a) for a in argv]
    log.debug("starting: %s", format_argv(argv))
    return spawn.popen(argv, env=env, close_fds=True, **kwargs)


def run(argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
        data: str | bytes | None = None, env: Mapping[str, str] | None = None,
        cwd: str | None = None, check: bool = True,
        secrets: Sequence[str] = (), text: bool = True) -> CommandResult:
    """Run argv and wait for it, at most ``timeout`` seconds.

    Raises CommandError when the program cannot be started, times out
    (the child is killed first), or exits non-zero while ``check`` is set.
    Thread-safe.
    """
    argv = [os.fspath(a) for a in argv]
    shown = format_argv(argv, secrets)
    log.debug("running: %s", shown)
    if isinstance(data, str) and not text:
        data = data.encode()
    start = time.monotonic()
    try:
        proc = spawn.popen(
            argv,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, text=text, close_fds=True, start_new_session=True)
    except OSError as e:
        raise CommandError(argv, None, "", str(e),
                           reason=f"could not be started ({e.strerror})") from e
    try:
        out, err = proc.communicate(input=data, timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _kill_group(proc)
        elapsed = time.monotonic() - start
        log.warning("command timed out after %.1fs: %s", elapsed, shown)
        raise CommandError(argv, None, out, err,
                           reason=f"timed out after {timeout:g}s") from None
    except BaseException:
        _kill_group(proc)
        raise
    elapsed = time.monotonic() - start
    log.debug("finished rc=%s in %.3fs: %s", proc.returncode, elapsed, shown)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, out, err)
    return CommandResult(argv, proc.returncode, out, err, elapsed)
