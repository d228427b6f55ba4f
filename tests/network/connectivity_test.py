"""The engine in a peer namespace; the host (supervdsmd and an agent with
the network subsystem) inside its own namespace, reachable only over a
veth wire. A change that cuts the engine off is rolled back by the agent
after connectivityTimeout; one the engine can still reach is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.agentproc import REPO, AgentRoot

from .nstools import Netns, require_root_and_ip

HOST_IP, ENGINE_IP = "10.77.0.2", "10.77.0.1"
MGMT = {"nic": "nic0", "ipaddr": HOST_IP, "prefix": 24,
        "gateway": ENGINE_IP, "defaultRoute": True}


class Site:
    """Two namespaces on one wire, and the host's daemons in one of them."""

    def __init__(self) -> None:
        pid = os.getpid()
        self.engine = Netns(f"vdsmtest-eng-{pid}")
        self.host = Netns(f"vdsmtest-host-{pid}")
        self.host.veth("nic0", "eth0", peer_ns=self.engine)
        self.host.veth("nic1", "wire1")
        self.engine.ip("addr", "add", f"{ENGINE_IP}/24", "dev", "eth0")
        # The host as installed: its address on the bare NIC.
        self.host.ip("addr", "add", f"{HOST_IP}/24", "dev", "nic0")
        self.root = AgentRoot({("addresses", "management_ip"): ""})
        self.url = f"https://{HOST_IP}:{self.root.port}"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self._spawn("supervdsmd", "vdsm.supervdsm.server", "--config",
                    self.root.conf_file)
        self._wait_for(self.root.config.supervdsm_socket, "supervdsmd")
        self._spawn("agent", "tests.network.netns_agent", self.root.conf_file)
        self._wait_for(os.path.join(self.root.config.run_dir, "agent.ready"),
                       "agent")
        assert self.engine_says("wait") == {"ok": True}

    def _spawn(self, name: str, module: str, *args: str) -> None:
        out = open(os.path.join(self.root.root, f"{name}.out"), "ab")
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.host.name, sys.executable, "-m",
             module, *args], env=self.root.env(), cwd=REPO, stdout=out,
            stderr=subprocess.STDOUT))
        out.close()

    def _wait_for(self, path: str, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline or any(
                    p.poll() is not None for p in self.procs):
                raise RuntimeError(f"{name} did not start: "
                                   + self.root.output(name))
            time.sleep(0.05)

    def engine_says(self, action: str, *args: str) -> dict:
        result = subprocess.run(
            ["ip", "netns", "exec", self.engine.name, sys.executable, "-m",
             "tests.network.engine_client", self.url, self.root.config.pki_dir,
             action, *args], env=self.root.env(), cwd=REPO,
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def setup(self, networks: dict, options: dict) -> dict:
        return self.engine_says("setup", json.dumps([networks, {}, options]))

    def agent_log(self) -> str:
        with open(os.path.join(self.root.config.log_dir, "vdsm.log")) as f:
            return f.read()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.host.delete()
        self.engine.delete()
        self.root.cleanup()


@pytest.fixture(scope="module")
def site():
    require_root_and_ip()
    site = Site()
    try:
        site.start()
        yield site
    finally:
        site.stop()


def test_change_the_engine_still_reaches_is_kept(site):
    # The classic first step of a host install: the management address
    # moves from the NIC onto a bridge, confirmed by the engine's polling.
    result = site.setup({"ovirtmgmt": MGMT},
                        {"connectivityCheck": "true",
                         "connectivityTimeout": 10})
    assert result["answer"]["status"]["code"] == 0, result
    assert result["pings_ok"] >= 1
    links = site.host.links()
    assert links["nic0"]["master"] == "ovirtmgmt"
    assert site.host.addresses("ovirtmgmt") == [f"{HOST_IP}/24"]
    assert site.host.addresses("nic0") == []
    caps = site.engine_says("call", "getVdsCapabilities")["info"]
    assert caps["networks"]["ovirtmgmt"]["addr"] == HOST_IP
    assert caps["networks"]["ovirtmgmt"]["gateway"] == ENGINE_IP
    deadline = time.monotonic() + 10
    while True:  # per-NIC rates include the new bridge once sampled
        stats = site.engine_says("call", "getVdsStats")["info"]["network"]
        if "ovirtmgmt" in stats or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "ovirtmgmt" in stats and "nic0" in stats


def test_change_that_cuts_the_engine_off_is_rolled_back(site):
    before = site.host.snapshot()
    cut = {**MGMT, "ipaddr": "10.88.0.2", "gateway": "10.88.0.1"}
    start = time.monotonic()
    result = site.setup({"ovirtmgmt": cut}, {"connectivityCheck": True,
                                             "connectivityTimeout": 3})
    assert time.monotonic() - start >= 3
    assert result["pings_failed"] >= 1, result
    # The answer comes back once the rollback restored the address.
    assert result.get("answer", {}).get("status", {}).get("code") == 10, result
    assert site.host.snapshot() == before
    assert site.engine_says("wait") == {"ok": True}
    caps = site.engine_says("call", "getVdsCapabilities")["info"]
    assert caps["networks"]["ovirtmgmt"]["addr"] == HOST_IP
    assert "no client reached the agent within 3 s" in site.agent_log()
