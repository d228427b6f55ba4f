"""A real supervdsmd process for tests, and a way to call it as another user."""

from __future__ import annotations

import json
import os
import pwd
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
from typing import Any, Callable

from vds_bootstrap import accounts, classic_ids
from vdsm import config as vdsm_config
from vdsm.common import commands, privileges

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VDSM_USER = "vdsm"


def ensure_vdsm_user() -> str:
    """Create the system user ``vdsm`` (with its own group) when absent.

    Left in place afterwards: it is the agent's designated user, and
    other tests running at the same time may rely on it.
    """
    if not privileges.ensure_user(VDSM_USER):
        # the classic uid 36 where it is free, as bootstrap does
        uid = classic_ids.choose_on("/", classic_ids.USER, VDSM_USER).request
        result = commands.run(
            accounts.useradd_argv(VDSM_USER, home="/var/lib/vdsm",
                                  shell="/usr/sbin/nologin", uid=uid),
            check=False, timeout=30)
        if not privileges.ensure_user(VDSM_USER):
            raise RuntimeError(f"cannot create user {VDSM_USER}: {result.err}")
    return VDSM_USER


class SupervdsmProcess:
    """supervdsmd started as ``python -m vdsm.supervdsm.server``."""

    def __init__(self, root: str, *extra_args: str) -> None:
        self.root = root
        self.config_file = os.path.join(root, "etc/vdsm/vdsm.conf")
        vdsm_config.write(self.config_file, vdsm_config.rooted(root))
        self.config = vdsm_config.load(self.config_file)
        self.socket_path = self.config.supervdsm_socket
        self.log_file = os.path.join(self.config.log_dir, "supervdsm.log")
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        env = dict(os.environ, PYTHONPATH=REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vdsm.supervdsm.server",
             "--config", self.config_file, *self.extra_args],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervdsmd exited rc={self.proc.returncode}: "
                                   f"{self.proc.stderr.read()}")
            if self._own_pid_file() and _answers(self.socket_path):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"supervdsmd did not listen within {timeout}s")

    def _own_pid_file(self) -> bool:
        try:
            with open(os.path.join(self.config.run_dir, "supervdsmd.pid")) as f:
                return f.read().strip() == str(self.pid)
        except FileNotFoundError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; return the exit code (kill if it hangs)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()

    def log(self) -> str:
        with open(self.log_file) as f:
            return f.read()


def _answers(path: str) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def run_as(user: str, func: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``func`` in a forked child that dropped privileges to ``user``.

    Returns what func returned (JSON-able) or, when it raised, a dict
    {"raised": class name, "name": error name, "message": str}.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(read_fd)
            privileges.drop_privileges(user)
            try:
                outcome: Any = {"value": func()}
            except Exception as e:
                outcome = {"raised": type(e).__name__,
                           "name": getattr(e, "name", None), "message": str(e)}
            os.write(write_fd, json.dumps(outcome).encode())
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        data = _read_all(read_fd, timeout)
    finally:
        os.close(read_fd)
        _reap(pid, timeout)
    if not data:
        raise RuntimeError(f"child running as {user} failed (see stderr)")
    outcome = json.loads(data)
    return outcome["value"] if "value" in outcome else outcome


def _read_all(fd: int, timeout: float) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    raise TimeoutError(f"child gave no answer within {timeout}s")


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid
