"""One test module at a time changes the host's /sys/kernel/mm/ksm.

The xdist workers share the machine's KSM: a module that writes it (or
runs an agent whose policy engine does) holds this lock while it does,
so no test reads back another's values or restores a stale state.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

LOCK_PATH = "/tmp/vdsm-tests-ksm.lock"


@contextlib.contextmanager
def exclusive_ksm(timeout: float = 180.0) -> Iterator[None]:
    """Raises TimeoutError when another holder keeps it past ``timeout``."""
    fd = os.open(LOCK_PATH, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK_PATH} held for {timeout} s") \
                        from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
