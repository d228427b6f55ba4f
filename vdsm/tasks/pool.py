"""A fixed number of worker threads draining one queue."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class WorkerPool:
    """Runs submitted callables on ``size`` daemon threads, in FIFO order.

    Daemon threads, so a job that never returns cannot keep the process
    alive at exit; :meth:`shutdown` waits for them only as long as told.
    Thread-safe.
    """

    def __init__(self, size: int, *, name: str = "tasks") -> None:
        if size < 1:
            raise ValueError(f"A pool needs at least one worker, not {size}")
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}/{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, function: Callable[[], None]) -> None:
        """Queue ``function``; raises RuntimeError once shut down."""
        with self._lock:
            if self._closed:
                raise RuntimeError("Worker pool is shut down")
            self._queue.put(function)

    def shutdown(self, timeout: float) -> bool:
        """Let queued work finish, then end the threads.

        Returns False if some worker was still busy after ``timeout``
        seconds (it goes on in the background as a daemon thread).
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [t.name for t in self._threads if t.is_alive()]
        if busy:
            log.warning("Workers still busy after %.1f s: %s", timeout, busy)
        return not busy

    def _work(self) -> None:
        while True:
            function = self._queue.get()
            if function is _STOP:
                return
            try:
                function()
            except Exception:  # keep the worker alive for the next job
                log.exception("Unhandled error in worker")
