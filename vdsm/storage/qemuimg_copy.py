"""qemu-img convert as a watched helper process, and qemu-img compare.

A copy between domains can take hours: the task must show how far it is,
stop when the task is stopped, and not saturate the storage. So the copy
runs ``qemu-img convert -p`` (progress on stdout) with ``-r`` (qemu-img's
own rate limit, bytes per second) through :func:`vdsm.common.commands.start`
(it dies with the agent), read here until it exits, killed on abort or
timeout. The argument list and the progress parsing are pure functions.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import signal
import subprocess
import time
from typing import Callable

from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm.storage.qemuimg import COPY_TIMEOUT, DEFAULT_TIMEOUT, QEMU_IMG, QemuImgError

log = logging.getLogger(__name__)

MiB = 1024 * 1024
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def rate_limit(bandwidth_mib: float) -> int | None:
    """qemu-img's ``-r`` (bytes per second) for a configured bandwidth in
    MiB/s; None (no limit) for 0 or less."""
    if bandwidth_mib <= 0:
        return None
    return max(1, int(bandwidth_mib * MiB))


def convert_argv(src: str, dst: str, *, src_format: str, dst_format: str,
                 backing: str | None = None, rate: int | None = None,
                 cache: str = "none") -> list[str]:
    """``qemu-img convert`` into an existing target (-n: its header, with
    ``backing``, was made by the caller); with ``backing`` only what
    differs from it is written (one layer of a chain)."""
    argv = [QEMU_IMG, "convert", "-p", "-t", cache, "-T", cache,
            "-f", src_format, "-O", dst_format]
    if rate is not None:
        argv += ["-r", str(rate)]
    if backing is not None:
        argv += ["-B", backing]
    argv += ["-n", src, dst]
    return argv


def parse_progress(output: bytes) -> float | None:
    """The last percentage in qemu-img's ``-p`` output, None if none yet."""
    found = _PROGRESS.findall(output)
    return float(found[-1]) if found else None


def run_convert(argv: list[str], *, cwd: str | None = None,
                progress: Callable[[float], None] | None = None,
                aborting: Callable[[], bool] = lambda: False,
                timeout: float = COPY_TIMEOUT) -> None:
    """Run a convert argv, calling ``progress(percent)`` as it goes.

    Raises QemuImgError when it fails, is stopped (``aborting()`` turned
    true: the child is killed first) or runs past ``timeout``.
    """
    proc = commands.start(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True)
    out, err = bytearray(), bytearray()
    reason = ""
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    last = None
    try:
        while sel.get_map():
            if aborting():
                reason = "stopped"
                break
            if time.monotonic() > deadline:
                reason = f"timed out after {timeout:g}s"
                break
            for key, _ in sel.select(0.5):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(data)
            if len(out) > 4096:
                del out[:-256]
            percent = parse_progress(bytes(out))
            if progress is not None and percent is not None and percent != last:
                last = percent
                progress(percent)
    except BaseException:
        reason = "failed"
        raise
    finally:
        sel.close()
        if reason:
            _kill(proc)
        rc = proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    if reason or rc != 0:
        reason = reason or f"exited with rc={rc}"
        text = err.decode(errors="replace").strip()[:500]
        raise QemuImgError(f"qemu-img convert {reason}: {text}", cmd=argv, rc=rc,
                           err=text)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        log.debug("qemu-img pid %d already gone", proc.pid)


def compare(first: str, second: str, *, first_format: str, second_format: str,
            timeout: float = COPY_TIMEOUT) -> bool:
    """``qemu-img compare`` of what two images (with their chains) read,
    formats given: True when equal. Raises QemuImgError when it cannot
    compare."""
    return qemuimg.compare(first, second, first_format=first_format,
                           second_format=second_format,
                           timeout=max(timeout, DEFAULT_TIMEOUT))
