"""Finding, running and fingerprinting the scripts of one hook point.

The policy (which points exist, what a failure means for the caller) lives
in :mod:`vdsm.common.hooks`; this module only knows about files and
processes.

Each script runs under coreutils ``timeout`` rather than relying on the
timeout of :func:`vdsm.common.commands.run` alone: ``timeout`` puts the
script in its own process group and kills the whole group, so a shell
hook stuck in a child (``sleep``, a hung ``curl``) cannot keep the pipes
open and block the agent after the script itself was killed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from typing import Mapping

from vdsm.common import commands

log = logging.getLogger(__name__)

# Exit codes of the hook protocol.
EXIT_OK = 0
EXIT_FAIL = 1  # failed, the remaining scripts still run
EXIT_STOP = 2  # failed, the remaining scripts are skipped

# Seconds between SIGTERM and SIGKILL when a script overstays its timeout.
KILL_GRACE = 2.0

# Exit codes of coreutils timeout(1) when it had to stop the script.
_TIMED_OUT_RCS = (124, 128 + 9)

_TIMEOUT_BIN = shutil.which("timeout") or "/usr/bin/timeout"


@dataclass(frozen=True)
class ScriptResult:
    """How one script ended.

    ``problem`` is set when the script did not end by itself: it timed
    out (``rc`` is then timeout(1)'s code), or timeout(1) itself could
    not be started (``rc`` None). A script that timeout(1) cannot start
    ends with rc 126 or 127 and no problem.
    """

    path: str
    rc: int | None
    out: str
    err: str
    elapsed: float
    problem: str = ""

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def ok(self) -> bool:
        return self.rc == EXIT_OK and not self.problem

    @property
    def stops(self) -> bool:
        """Whether the remaining scripts of the point must be skipped."""
        return bool(self.problem) or self.rc == EXIT_STOP


def find_scripts(point_dir: str) -> list[str]:
    """The runnable scripts of a point directory, sorted by file name.

    Only regular executable files count (symlinks to them included);
    hidden files, directories and non-executable files are skipped with a
    debug log. A missing directory means no scripts.
    """
    try:
        names = sorted(os.listdir(point_dir))
    except FileNotFoundError:
        return []
    scripts = []
    for name in names:
        path = os.path.join(point_dir, name)
        if name.startswith("."):
            log.debug("skipping hidden file %s", path)
        elif not os.path.isfile(path):
            log.debug("skipping %s: not a regular file", path)
        elif not os.access(path, os.X_OK):
            log.debug("skipping %s: not executable", path)
        else:
            scripts.append(path)
    return scripts


def run_script(path: str, *, env: Mapping[str, str],
               timeout: float) -> ScriptResult:
    """Run one hook script with ``env`` and wait at most ``timeout`` seconds.

    Never raises for anything the script does: a timeout or a failure to
    start is reported in ``ScriptResult.problem``.
    """
    argv = [_TIMEOUT_BIN, f"--kill-after={KILL_GRACE:g}", f"{timeout:.3f}",
            path]
    start = time.monotonic()
    try:
        res = commands.run(argv, timeout=timeout + KILL_GRACE + 5.0, env=env,
                           check=False, text=False)
    except commands.CommandError as e:
        return ScriptResult(path, None, _text(e.out), _text(e.err),
                            time.monotonic() - start, problem=e.reason)
    out, err = _text(res.out), _text(res.err)
    if res.rc in _TIMED_OUT_RCS and res.elapsed >= timeout:
        return ScriptResult(path, res.rc, out, err, res.elapsed,
                            problem=f"timed out after {timeout:g}s and was "
                                    "killed")
    return ScriptResult(path, res.rc, out, err, res.elapsed)


def checksum(path: str) -> str:
    """The sha256 hex digest of a script, or '' if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(65536), b""):
                digest.update(block)
    except OSError as e:
        log.warning("cannot read hook script %s: %s", path, e)
        return ""
    return digest.hexdigest()


def _text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data
