"""Test-only pause points: crash tests kill vdsmd at a known step.

A crash test must kill the agent at a chosen step of a job (after the
volume's metadata is written, after the SPM lease is taken), not when a
timer happens to fire. With ``[irs] test_pause_file`` set (empty, the
default, turns all this off: nothing is read), a step calls
:meth:`PausePoints.reach` with its name. While the file exists and holds
``<step> <n>``, the n-th reach of that step writes ``<file>.reached`` and
waits until the file is removed (at most ``MAX_PAUSE`` seconds). Reaches
are counted only while the file exists. Thread-safe.

Steps: ``write`` (before each write of an SPM job or rollback),
``spm_start`` (the SPM lease taken and recorded, tasks not yet recovered),
``create_pool`` (the master dir made, the pool not yet in the metadata).
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

MAX_PAUSE = 300.0


class PausePoints:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def reach(self, step: str) -> None:
        """Pause here if the pause file says so; else return at once."""
        if not self.path:
            return
        try:
            with open(self.path) as f:
                wanted = f.read().split()
        except FileNotFoundError:
            with self._lock:
                self._counts.clear()
            return
        with self._lock:
            count = self._counts[step] = self._counts.get(step, 0) + 1
        if wanted != [step, str(count)]:
            return
        log.warning("test pause point %s #%d reached", step, count)
        with open(self.path + ".reached", "w") as f:
            f.write(f"{step} {count}\n")
        deadline = time.monotonic() + MAX_PAUSE
        while os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.05)
        log.warning("test pause point %s #%d released", step, count)


NO_PAUSE = PausePoints("")
