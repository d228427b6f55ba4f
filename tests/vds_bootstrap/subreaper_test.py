"""The subreaper launcher as a real process reaping real orphans."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from vds_bootstrap import subreaper

from .bootstrap_procs import (
    REPO,
    parent_of,
    process_state,
    read_pid,
    stop_pid,
    wait_exited,
)

# Forks a child that forks a grandchild and exits at once: the grandchild
# is orphaned. It prints the grandchild's pid, then sleeps until killed.
ORPHAN_MAKER = """
import os, sys, time
r, w = os.pipe()
child = os.fork()
if child == 0:
    grandchild = os.fork()
    if grandchild == 0:
        time.sleep(float(sys.argv[1]))
        os._exit(0)
    os.write(w, str(grandchild).encode())
    os._exit(0)
os.waitpid(child, 0)
print(os.read(r, 32).decode(), flush=True)
time.sleep(float(sys.argv[2]))
"""


def launcher(*options: str) -> list[str]:
    return [sys.executable, "-m", "vds_bootstrap.subreaper", *options, "--"]


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no output from the launched command"
    return proc.stdout.readline().strip()


def test_orphan_reaped_at_once() -> None:
    proc = subprocess.Popen(
        launcher() + [sys.executable, "-c", ORPHAN_MAKER, "0.3", "30"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        orphan = int(read_line(proc, 10))
        # The orphan's parent is gone: it now belongs to the subreaper.
        assert parent_of(orphan) == proc.pid
        start = time.monotonic()
        while process_state(orphan) is not None:
            # It sleeps 0.3 s. PID 1 here reaps only every ~2 s, we must
            # reap it at once.
            assert time.monotonic() - start < 0.8, \
                f"orphan {orphan} in state {process_state(orphan)}"
            time.sleep(0.01)
        # SIGTERM goes to the command, whose status becomes ours.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        stop_pid(proc.pid)
        proc.wait(timeout=10)


def test_waits_for_descendants() -> None:
    start = time.monotonic()
    run = subprocess.run(
        launcher() + [sys.executable, "-c", ORPHAN_MAKER, "0.5", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=20)
    elapsed = time.monotonic() - start
    assert run.returncode == 0, run.stderr
    orphan = int(run.stdout.strip())
    assert elapsed >= 0.5
    assert process_state(orphan) is None


def test_daemon_mode(tmp_path) -> None:
    pidfile = str(tmp_path / "subreaper.pid")
    sleeper_pidfile = tmp_path / "sleeper.pid"
    # Like `libvirtd -d`: fork the long-lived part off, exit 7.
    command = ("import os, sys, time\n"
               "if os.fork() == 0:\n"
               f"    open({str(sleeper_pidfile)!r}, 'w').write(str(os.getpid()))\n"
               "    time.sleep(30)\n"
               "    os._exit(0)\n"
               "sys.exit(7)\n")
    sleeper = daemon = None
    try:
        start = time.monotonic()
        run = subprocess.run(
            launcher("--daemon", "--pidfile", pidfile)
            + [sys.executable, "-c", command],
            cwd=REPO, capture_output=True, text=True, timeout=20)
        assert run.returncode == 7, run.stderr
        assert time.monotonic() - start < 10
        daemon = read_pid(pidfile)
        assert daemon and process_state(daemon) not in (None, "Z")
        deadline = time.monotonic() + 5
        while sleeper is None and time.monotonic() < deadline:
            sleeper = read_pid(str(sleeper_pidfile))
            time.sleep(0.01)
        assert parent_of(sleeper) == daemon
        # After the command exited, SIGTERM goes to what it left behind.
        os.kill(daemon, signal.SIGTERM)
        assert wait_exited(sleeper, 5)
        assert wait_exited(daemon, 5)
        assert not os.path.exists(pidfile)
    finally:
        for pid in (sleeper, daemon):
            if pid:
                stop_pid(pid)


def test_missing_command() -> None:
    run = subprocess.run(launcher() + ["/nonexistent/program"], cwd=REPO,
                         capture_output=True, text=True, timeout=20)
    assert run.returncode == 127
    assert "/nonexistent/program" in run.stderr


def test_usage() -> None:
    with pytest.raises(SystemExit):
        subreaper.parse_args(["sleep", "1"])
    args = subreaper.parse_args(["--bind", "/a:/b", "--", "sleep", "1"])
    assert args.bind == [("/a", "/b")] and args.command == ["sleep", "1"]
    with pytest.raises(SystemExit):
        subreaper.parse_args(["--bind", "relative:/b", "--", "true"])
