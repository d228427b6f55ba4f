"""Run the real daemons as processes under a temporary root (test aid)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

from tests.supervdsm.helpers import ensure_vdsm_user  # noqa: F401 (re-export)
from vdsm import config as vdsm_config
from vdsm.common import pki

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentRoot:
    """A whole host's agent files under one directory."""

    def __init__(self, overrides: dict[tuple[str, str], Any] | None = None,
                 *, ca_from: pki.PkiPaths | None = None) -> None:
        self.root = tempfile.mkdtemp(prefix="vdsm-test-")
        os.chmod(self.root, 0o755)  # the vdsm user must traverse it
        self.port = free_port()
        values = vdsm_config.rooted(self.root)
        values[("addresses", "management_ip")] = "127.0.0.1"
        values[("addresses", "management_port")] = self.port
        values[("vars", "host_stats_interval")] = 0.5
        values[("metrics", "port")] = 0  # never the fixed default port
        # the policy engine steers the real host's KSM: only where a test
        # asks for it (tests/virt/policyguests_test.py)
        values[("policy", "enabled")] = False
        values.update(overrides or {})
        self.conf_file = os.path.join(self.root, "etc/vdsm/vdsm.conf")
        vdsm_config.write(self.conf_file, values)
        self.config = vdsm_config.load(self.conf_file)
        self.pki = pki.PkiPaths(self.config.pki_dir)
        if ca_from is not None:   # another host of the same data center
            for src, dst in ((ca_from.ca_cert, self.pki.ca_cert),
                             (ca_from.ca_key, self.pki.ca_key)):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)
        pki.create_host_pki(self.pki, "localhost", clients=("engine",))
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO
        env["VDSM_CONF"] = self.conf_file
        return env

    def start(self, name: str, module: str, *args: str) -> subprocess.Popen:
        log = open(os.path.join(self.root, f"{name}.out"), "ab")
        proc = subprocess.Popen(
            [PYTHON, "-m", module, "--config", self.conf_file, *args],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        self.procs[name] = proc
        return proc

    def start_supervdsmd(self, timeout: float = 30) -> subprocess.Popen:
        proc = self.start("supervdsmd", "vdsm.supervdsm.server")
        sock = self.config.supervdsm_socket
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("supervdsmd did not start:\n"
                                   + self.output("supervdsmd"))
            time.sleep(0.05)
        return proc

    def start_vdsmd(self, timeout: float = 30) -> subprocess.Popen:
        proc = self.start("vdsmd", "vdsm.daemon")
        self.wait_for_api(proc, timeout)
        return proc

    def proxy(self, client: str = "engine") -> xmlrpc.client.ServerProxy:
        ctx = pki.client_context(self.pki.ca_cert, self.pki.client_cert(client),
                                 self.pki.client_key(client))
        return xmlrpc.client.ServerProxy(f"https://127.0.0.1:{self.port}",
                                         context=ctx, allow_none=True)

    def wait_for_api(self, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vdsmd exited rc={proc.returncode}:\n"
                                   + self.output("vdsmd"))
            try:
                if self.proxy().ping()["status"]["code"] == 0:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        raise TimeoutError("vdsmd did not answer:\n" + self.output("vdsmd"))

    def output(self, name: str) -> str:
        try:
            with open(os.path.join(self.root, f"{name}.out")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, name: str, sig: int = signal.SIGTERM,
             timeout: float = 20) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)

    def cleanup(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def in_process_agent(subsystems: list[Any]) -> Iterator[Any]:
    """An Agent with ``subsystems`` serving on port 0 under a temporary
    root, with ``proxy`` (XML-RPC as the engine) and ``root`` attached."""
    from vdsm.agent import Agent

    root = AgentRoot({("addresses", "management_port"): 0})
    agent = Agent(root.config, subsystems=subsystems)
    try:
        agent.bind()
        agent.start()
        agent.server.serve_in_thread()
        ctx = pki.client_context(root.pki.ca_cert, root.pki.client_cert("engine"),
                                 root.pki.client_key("engine"))
        agent.proxy = xmlrpc.client.ServerProxy(
            f"https://127.0.0.1:{agent.server.port}", context=ctx, allow_none=True)
        agent.root = root
        yield agent
    finally:
        agent.stop()
        root.cleanup()
