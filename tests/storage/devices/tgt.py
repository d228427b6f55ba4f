"""A user-space iSCSI target (tgt's ``tgtd``) on a loopback port, serving
file LUNs: the real SendTargets peer of the discovery tests. Started in the
foreground under its own control port, stopped by its pid."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.storage.helpers import wait_for
from vdsm.common import commands

need_tgt = pytest.mark.skipif(shutil.which("tgtd") is None or
                              shutil.which("iscsi-ls") is None,
                              reason="needs tgt (tgtd) and libiscsi-bin (iscsi-ls)")


def free_control_port() -> int:
    """A tgtd control port (tgtd takes 0..32767) no other tgtd listens on:
    its control socket is /var/run/tgtd/socket.N."""
    for _ in range(100):
        n = random.randint(1000, 32767)
        if not os.path.exists(f"/var/run/tgtd/socket.{n}"):
            return n
    raise RuntimeError("no free tgtd control port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Target:
    port: int
    control: int
    tids: list[int] = field(default_factory=list)

    def adm(self, *args: str) -> commands.CommandResult:
        return commands.run(["tgtadm", "-C", str(self.control), "--lld", "iscsi",
                             *args], timeout=20)

    def add_target(self, tid: int, iqn: str, lun_file: str) -> None:
        self.adm("--op", "new", "--mode", "target", "--tid", str(tid), "-T", iqn)
        self.tids.append(tid)
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", str(tid),
                 "--lun", "1", "-b", lun_file)
        self.adm("--op", "bind", "--mode", "target", "--tid", str(tid), "-I", "ALL")

    def add_chap(self, tid: int, user: str, password: str) -> None:
        self.adm("--op", "new", "--mode", "account", "--user", user,
                 "--password", password)
        self.adm("--op", "bind", "--mode", "account", "--tid", str(tid), "--user", user)


@contextlib.contextmanager
def tgtd(log_path: str) -> Iterator[Target]:
    target = Target(free_port(), free_control_port())
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["tgtd", "-f", "-C", str(target.control),
             "--iscsi", f"portal=127.0.0.1:{target.port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"tgtd exited rc={proc.returncode}")
            return commands.run(["tgtadm", "-C", str(target.control), "--op", "show",
                                 "--mode", "sys"], timeout=10, check=False).rc == 0
        wait_for(up, 10, "tgtd to answer on its control socket", interval=0.1)
        yield target
    finally:
        # tgtd ignores SIGTERM, and exits on request only without targets
        for tid in target.tids:
            commands.run(["tgtadm", "-C", str(target.control), "--lld", "iscsi",
                          "--op", "delete", "--mode", "target", "--tid", str(tid),
                          "--force"], timeout=10, check=False)
        commands.run(["tgtadm", "-C", str(target.control), "--op", "delete",
                      "--mode", "system", "--force"], timeout=10, check=False)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
