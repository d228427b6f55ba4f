"""Helper processes that die with the agent.

A helper left running after the agent is killed (a ``qemu-img convert`` of
copyImage) would write under the rollback the next agent does. So every
child gets PR_SET_PDEATHSIG(SIGKILL) before exec. The kernel sends that
signal when the *thread* that forked exits, so all forks happen in one
long-lived spawner thread, never in a short-lived request or task thread.

A child can still escape (the agent killed between fork and prctl). Each
child therefore carries :data:`MARK` in its environment, naming its agent
(the run dir); at start-up, before any task recovery, the agent kills
whatever carries its own mark (:func:`reap_leftovers`). The mark is
inherited: a daemon a helper of vdsmd leaves behind is killed at vdsmd's
next start too (supervdsmd marks nothing, so its DHCP clients live on).

Thread-safe.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import select
import signal
import subprocess
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Mapping, Sequence

log = logging.getLogger(__name__)

MARK = "VDSM_HELPER_OF"
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_SIGKILL = int(signal.SIGKILL)

_tag: str | None = None
_lock = threading.Lock()
_requests: queue.SimpleQueue | None = None
_owner_pid: int | None = None


def set_tag(tag: str) -> None:
    """Mark every child started from now on as a helper of agent ``tag``."""
    global _tag
    _tag = tag


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child, between fork and exec
        if _prctl(PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent_pid:  # the parent died before prctl
            os._exit(126)
    return setup


def _serve(requests: queue.SimpleQueue) -> None:
    while True:
        fn, future = requests.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn())
        except BaseException as e:  # handed to the caller's thread
            future.set_exception(e)


def _in_spawner(fn: Callable[[], Any]) -> Any:
    global _requests, _owner_pid
    with _lock:
        if _requests is None or _owner_pid != os.getpid():  # none yet, or forked
            _requests = queue.SimpleQueue()
            _owner_pid = os.getpid()
            threading.Thread(target=_serve, args=(_requests,), daemon=True,
                             name="spawner").start()
        requests = _requests
    future: Future = Future()
    requests.put((fn, future))
    return future.result()  # a fork and exec: bounded, never waits on the child


def popen(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          **kwargs: Any) -> subprocess.Popen:
    """subprocess.Popen(argv, ...) in the spawner thread; the child gets
    SIGKILL when the agent dies and carries the agent's mark. Raises what
    Popen raises (OSError when the program cannot be started)."""
    child_env = dict(os.environ if env is None else env)
    if _tag is not None:
        child_env[MARK] = _tag
    kwargs["preexec_fn"] = _die_with_parent(os.getpid())
    return _in_spawner(lambda: subprocess.Popen(list(argv), env=child_env, **kwargs))


def _marked(pid: int, tag: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:  # gone, or not ours to read
        return False
    return f"{MARK}={tag}".encode() in entries


def reap_leftovers(tag: str, timeout: float = 10.0) -> list[int]:
    """Kill every process marked as a helper of agent ``tag`` (left by an
    earlier agent that died) and wait until they are gone, at most
    ``timeout`` seconds. Call before starting any helper. Returns the pids
    killed; one that does not die in time is logged as an error."""
    pidfds: dict[int, int] = {}
    try:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            pid = int(name)
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue  # already gone
            if _marked(pid, tag):  # checked after pidfd_open: same process
                pidfds[pid] = fd
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                log.warning("killed helper pid %d left by an earlier agent", pid)
            else:
                os.close(fd)
        _wait_gone(pidfds, timeout)
    finally:
        for fd in pidfds.values():
            os.close(fd)
    return sorted(pidfds)


def _wait_gone(pidfds: dict[int, int], timeout: float) -> None:
    poller = select.poll()
    waiting = {fd: pid for pid, fd in pidfds.items()}
    for fd in waiting:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            log.error("helpers %s did not die within %gs", sorted(waiting.values()),
                      timeout)
            return
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            waiting.pop(fd, None)
