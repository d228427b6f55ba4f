"""Run a command as a child subreaper that reaps every orphan at once.

    python -m vds_bootstrap.subreaper [--daemon] [--pidfile F] [--log F]
        [--bind SRC:DST]... -- CMD [ARG]...

On machines whose PID 1 reaps orphans slowly, an exited QEMU stays a
zombie for seconds and libvirt waits for it. This launcher marks itself
``PR_SET_CHILD_SUBREAPER``, so orphans of CMD's process tree (a
daemonized libvirtd, the QEMUs it double-forks) become its children, and
reaps them as soon as they exit. It lives until CMD and every such
descendant are gone. SIGTERM, SIGINT and SIGHUP go to CMD while it runs,
afterwards to the remaining children (e.g. the daemon CMD forked off).

``--daemon``: detach (new session, stdio on --log or /dev/null) and exit
with CMD's status once CMD itself exits; for ``libvirtd -d`` that is when
the daemon finished starting. ``--bind``: run CMD in a private mount
namespace with SRC bind-mounted over DST (see :mod:`mountns`).
The exit status is CMD's (128+N when killed by signal N).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
from typing import Callable, Sequence

from vds_bootstrap import mountns

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def set_child_subreaper() -> None:
    """Raises OSError when the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def children_of(parent: int) -> list[int]:
    """Pids whose parent is ``parent``, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited while we looked
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(name))
    return found


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def supervise(argv: Sequence[str], *,
              on_command_exit: Callable[[int], None] | None = None) -> int:
    """Start argv, reap every child until none is left; CMD's exit code.

    Raises OSError when argv cannot be started.
    """
    set_child_subreaper()
    command = os.posix_spawnp(argv[0], list(argv), dict(os.environ))
    command_rc: int | None = None

    def forward(signum: int, frame: object) -> None:
        targets = [command] if command_rc is None else children_of(os.getpid())
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == command:
            command_rc = _exit_code(status)
            log.debug("command %s exited with %s", argv[0], command_rc)
            if on_command_exit:
                on_command_exit(command_rc)
        else:
            log.debug("reaped orphan %s", pid)
    return command_rc if command_rc is not None else 1


def _write_pidfile(path: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def _redirect_stdio(log_file: str | None) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640) \
        if log_file else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in {null, out}:
        if fd > 2:
            os.close(fd)


class _StatusPipe:
    """Tells the waiting foreground half CMD's exit code, exactly once."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def send(self, rc: int) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.write(fd, f"{rc}\n".encode())
        except OSError as e:
            log.warning("cannot report status %s: %s", rc, e)
        finally:
            os.close(fd)


def _run_detached(args: argparse.Namespace) -> int:
    """The foreground half waits for CMD's status from the detached half."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            data = f.read().strip()
        return int(data) if data else 1
    os.close(read_end)
    os.setsid()
    status = _StatusPipe(write_end)
    rc = 1
    try:
        _redirect_stdio(args.log)
        rc = _run(args, on_command_exit=status.send)
    finally:
        status.send(rc)  # when CMD could not start
        os._exit(rc)


def _run(args: argparse.Namespace, *,
         on_command_exit: Callable[[int], None] | None = None) -> int:
    if args.pidfile:
        _write_pidfile(args.pidfile)
    try:
        if args.bind:
            mountns.enter_private(args.bind)
        return supervise(args.command, on_command_exit=on_command_exit)
    except OSError as e:
        log.error("cannot run %s: %s", args.command[0], e)
        return 127
    finally:
        if args.pidfile:
            _remove_pidfile(args.pidfile)


def _remove_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            ours = f.read().strip() == str(os.getpid())
        if ours:
            os.unlink(path)
    except OSError as e:
        log.warning("cannot remove %s: %s", path, e)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    if "--" not in argv:
        raise SystemExit("usage: subreaper [OPTIONS] -- CMD [ARG]...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="subreaper", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--daemon", action="store_true")
    parser.add_argument("--pidfile")
    parser.add_argument("--log")
    parser.add_argument("--bind", action="append", default=[],
                        type=mountns.parse_bind)
    args = parser.parse_args(argv[:split])
    args.command = argv[split + 1:]
    if not args.command:
        parser.error("no command after --")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO,
                        format="subreaper[%(process)d]: %(message)s")
    if args.daemon:
        return _run_detached(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
