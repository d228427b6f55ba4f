"""Storage I/O out of the daemon's threads: helper processes with timeouts.

A file system can hang (an NFS server gone, a FUSE daemon stopped): any
thread touching it blocks, often unkillably. So storage code does its file
I/O through :class:`OopFileOps`, whose calls run in a helper process
(:mod:`vdsm.storage.io.worker`), one per storage domain or mount
(:class:`IOProcessPool`). A call that does not answer within its timeout
raises AccessTimeout and is abandoned: its late answer is dropped. Callers
can see abandoned calls (:attr:`IOProcess.pending`) and avoid piling more
on a hung file system; past ``max_pending`` calls fail at once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from typing import Any

import vdsm
from vdsm.common import commands
from vdsm.storage.errors import AccessTimeout
from vdsm.storage.io import worker
from vdsm.storage.io.file_operations import FileOps

log = logging.getLogger(__name__)

_VDSM_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(vdsm.__file__)))


class _Call:
    __slots__ = ("done", "answer", "proc")

    def __init__(self, proc: subprocess.Popen) -> None:
        self.done = threading.Event()
        self.answer: dict[str, Any] | None = None
        self.proc = proc


class IOProcess:
    """One helper process; thread-safe; started on first use."""

    def __init__(self, name: str, *, timeout: float, max_pending: int = 32) -> None:
        self.name = name
        self.timeout = timeout
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._calls: dict[int, _Call] = {}
        self._next_id = 0
        self._closed = False

    @property
    def pending(self) -> int:
        """Calls sent and not answered yet (abandoned ones included)."""
        with self._lock:
            return len(self._calls)

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        """Run ``file_operations.<op>(*args)`` in the helper; return its result.

        Raises the helper's OSError (same errno), AccessTimeout when no
        answer comes within ``timeout`` (default: the process's), or when
        too many calls are already stuck.
        """
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                raise AccessTimeout(f"I/O helper {self.name} is closed")
            if len(self._calls) >= self.max_pending:
                raise AccessTimeout(
                    f"I/O helper {self.name} has {len(self._calls)} calls "
                    "without answer; storage is not responding")
            proc = self._ensure_started()
            self._next_id += 1
            call_id = self._next_id
            call = _Call(proc)
            self._calls[call_id] = call
            try:
                worker.write_frame(proc.stdin, {"id": call_id, "op": op,
                                                  "args": list(args)})
            except OSError as e:
                del self._calls[call_id]
                raise OSError(e.errno, f"I/O helper {self.name} is gone") from e
        if not call.done.wait(timeout):
            log.warning("I/O helper %s: %s%s did not answer within %.1fs",
                        self.name, op, _short(args), timeout)
            raise AccessTimeout(
                f"Image repository access timeout: {op} on {self.name} took "
                f"more than {timeout:g}s", op=op)
        answer = call.answer or {"err": {"errno": 5, "msg": "no answer",
                                         "filename": None}}
        if "err" in answer:
            err = answer["err"]
            if err["errno"] is None:
                raise OSError(5, err["msg"])
            raise OSError(err["errno"], err["msg"], err["filename"])
        return answer.get("ok")

    def _ensure_started(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_VDSM_PARENT, env.get("PYTHONPATH")) if p)
        self._proc = commands.start(
            [sys.executable, "-m", "vdsm.storage.io.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env)
        log.debug("started I/O helper %s, pid %d", self.name, self._proc.pid)
        threading.Thread(target=self._read_answers, args=(self._proc,),
                         name=f"oop-{self.name[:8]}", daemon=True).start()
        return self._proc

    def _read_answers(self, proc: subprocess.Popen) -> None:
        try:
            while True:
                answer = worker.read_frame(proc.stdout)
                if answer is None:
                    break
                with self._lock:
                    call = self._calls.pop(answer.get("id"), None)
                if call is not None:
                    call.answer = answer
                    call.done.set()
        except (OSError, ValueError) as e:
            log.warning("I/O helper %s: bad answer stream: %s", self.name, e)
        with self._lock:
            orphans = [i for i, c in self._calls.items() if c.proc is proc]
            orphans = [self._calls.pop(i) for i in orphans]
        for call in orphans:
            call.done.set()  # answer None: reported as EIO
        proc.stdout.close()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the helper; a helper stuck in I/O is killed, never waited on."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("I/O helper %s (pid %d) is stuck in the kernel",
                          self.name, proc.pid)


class IOProcessPool:
    """Helper processes by key (a domain UUID or a mount path)."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._procs: dict[str, IOProcess] = {}

    def get(self, key: str) -> IOProcess:
        with self._lock:
            proc = self._procs.get(key)
            if proc is None:
                proc = self._procs[key] = IOProcess(key, timeout=self.timeout)
            return proc

    def file_ops(self, key: str) -> OopFileOps:
        return OopFileOps(self.get(key))

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._procs

    def close(self, key: str) -> None:
        with self._lock:
            proc = self._procs.pop(key, None)
        if proc is not None:
            proc.close()

    def close_all(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
            self._procs.clear()
        for proc in procs:
            proc.close()


class OopFileOps(FileOps):
    """File operations run by one helper process."""

    def __init__(self, proc: IOProcess) -> None:
        self.proc = proc

    def _call(self, op: str, *args: Any) -> Any:
        return self.proc.call(op, *args)

    @property
    def pending(self) -> int:
        return self.proc.pending


def _short(args: tuple[Any, ...]) -> str:
    text = repr(tuple(a for a in args if not isinstance(a, bytes)))
    return text if len(text) < 200 else text[:197] + "..."
