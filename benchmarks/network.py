"""Network configuration speed: the agent vs plain ip(8) commands.

In a private network namespace (never the machine's own):

1. one setupNetworks creating 10 bridged networks (on 10 veth NICs, each
   with an address and MTU 9000), through the whole agent (XML-RPC, TLS,
   validation, supervdsmd, netlink, verification, persistence), its
   netlink part alone, and the same devices made by ~60 ``ip`` commands
   or by one ``ip -batch``; then their removal;
2. the capabilities report with 50 bridged networks: the agent's
   getNetworkCapabilities and full getVdsCapabilities, the netinfo read
   alone, beside ``ip -j -d link`` + ``ip -j addr``.

Prints the median of ``--rounds`` runs (ms). Needs root.

    .venv/bin/python benchmarks/network.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm import config as vdsm_config  # noqa: E402
from vdsm.agent import Agent  # noqa: E402
from vdsm.common import pki  # noqa: E402
from vdsm.network import desired, kernel, netapply, parse, report  # noqa: E402
from vdsm.network.subsystem import NetworkSubsystem, read_devices  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = f"vdsmbench-{os.getpid()}"
NICS = [f"nic{i}" for i in range(10)]


def ip(*args: str) -> None:
    subprocess.run(["ip", "-n", NS, *args], check=True, capture_output=True)


def fresh_namespace() -> None:
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    for i, nic in enumerate(NICS):
        ip("link", "add", nic, "type", "veth", "peer", "name", f"wire{i}")
        ip("link", "set", nic, "up")


def ten_networks() -> dict[str, Any]:
    return {f"net{i}": {"nic": nic, "ipaddr": f"10.{100 + i}.0.2",
                        "prefix": 24, "mtu": 9000}
            for i, nic in enumerate(NICS)}


def ip_commands_create() -> None:
    for i, nic in enumerate(NICS):
        br = f"net{i}"
        ip("link", "add", br, "type", "bridge")
        ip("link", "set", nic, "master", br)
        ip("link", "set", nic, "mtu", "9000")
        ip("link", "set", br, "mtu", "9000")
        ip("addr", "add", f"10.{100 + i}.0.2/24", "dev", br)
        ip("link", "set", br, "up")


def ip_commands_remove() -> None:
    for i, nic in enumerate(NICS):
        ip("link", "del", f"net{i}")
        ip("link", "set", nic, "mtu", "1500")


def ip_batch(lines: list[str]) -> None:
    subprocess.run(["ip", "-n", NS, "-batch", "-"], input="\n".join(lines),
                   text=True, check=True, capture_output=True)


def batch_create() -> list[str]:
    lines = []
    for i, nic in enumerate(NICS):
        br = f"net{i}"
        lines += [f"link add {br} type bridge", f"link set {nic} master {br}",
                  f"link set {nic} mtu 9000", f"link set {br} mtu 9000",
                  f"addr add 10.{100 + i}.0.2/24 dev {br}",
                  f"link set {br} up"]
    return lines


def batch_remove() -> list[str]:
    return [line for i, nic in enumerate(NICS) for line in (
        f"link del net{i}", f"link set {nic} mtu 1500")]


def timed(func: Callable[[], Any], rounds: int,
          reset: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(rounds):
        if reset:
            reset()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


class Bench:
    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="vdsmbench-")
        os.chmod(self.root, 0o755)
        values = vdsm_config.rooted(self.root, network__netns=NS,
                                    addresses__management_ip="127.0.0.1",
                                    addresses__management_port=0)
        conf = os.path.join(self.root, "etc/vdsm/vdsm.conf")
        vdsm_config.write(conf, values)
        self.config = vdsm_config.load(conf)
        self.paths = pki.PkiPaths(self.config.pki_dir)
        pki.create_host_pki(self.paths, "localhost", clients=("engine",))
        self.supervdsmd = subprocess.Popen(
            [sys.executable, "-m", "vdsm.supervdsm.server", "--config", conf],
            cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.config.supervdsm_socket):
            if time.monotonic() > deadline or self.supervdsmd.poll() is not None:
                raise RuntimeError("supervdsmd did not start")
            time.sleep(0.05)
        self.agent: Agent | None = None

    def start_agent(self) -> xmlrpc.client.ServerProxy:
        for path in ("staging", "persistence"):
            shutil.rmtree(os.path.join(self.config.state_dir, path),
                          ignore_errors=True)
        self.agent = Agent(self.config, subsystems=[NetworkSubsystem])
        self.agent.bind()
        self.agent.start()
        self.agent.server.serve_in_thread()
        ctx = pki.client_context(self.paths.ca_cert,
                                 self.paths.client_cert("engine"),
                                 self.paths.client_key("engine"))
        return xmlrpc.client.ServerProxy(
            f"https://127.0.0.1:{self.agent.server.port}", context=ctx,
            allow_none=True)

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def close(self) -> None:
        self.stop_agent()
        self.supervdsmd.terminate()
        self.supervdsmd.wait(20)
        shutil.rmtree(self.root, ignore_errors=True)


def check(answer: dict[str, Any]) -> None:
    if answer["status"]["code"] != 0:
        raise RuntimeError(answer["status"])


def setup_benchmark(bench: Bench, rounds: int) -> list[tuple[str, float]]:
    nets = ten_networks()
    removal = {name: {"remove": True} for name in nets}
    fresh_namespace()
    proxy = bench.start_agent()
    results = []
    create: list[float] = []
    remove: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        check(proxy.setupNetworks(nets, {}, {}))
        create.append(time.perf_counter() - start)
        start = time.perf_counter()
        check(proxy.setupNetworks(removal, {}, {}))
        remove.append(time.perf_counter() - start)
    bench.stop_agent()
    results += [("agent setupNetworks: create 10 bridged networks",
                 statistics.median(create) * 1000),
                ("agent setupNetworks: remove them",
                 statistics.median(remove) * 1000)]

    want = desired.build(parse.config_from_dict({"networks": nets}))
    release = desired.released(want, {})

    def direct(ifaces: Any, rel: Any) -> None:
        with kernel.open_netlink(NS) as ipr:
            netapply.apply(ipr, ifaces, rel)

    results.append(("netlink apply alone (plan+steps+verify): create",
                    timed(lambda: direct(want, {}), rounds,
                          reset=lambda: direct({}, release))))
    results.append(("netlink apply alone: remove",
                    timed(lambda: direct({}, release), rounds,
                          reset=lambda: direct(want, {}))))
    results.append(("ip commands (60 processes): create",
                    timed(ip_commands_create, rounds,
                          reset=lambda: ip_batch(batch_remove())
                          if "net0" in _links() else None)))
    ip_commands_remove()
    results.append(("ip -batch (1 process): create",
                    timed(lambda: ip_batch(batch_create()), rounds,
                          reset=lambda: ip_batch(batch_remove())
                          if "net0" in _links() else None)))
    ip_batch(batch_remove())
    results.append(("ip -batch (1 process): remove",
                    timed(lambda: ip_batch(batch_remove()), rounds,
                          reset=lambda: ip_batch(batch_create()))))
    return results


def _links() -> str:
    return subprocess.run(["ip", "-n", NS, "-o", "link"], capture_output=True,
                          text=True, check=True).stdout


def caps_benchmark(bench: Bench, rounds: int) -> list[tuple[str, float]]:
    fresh_namespace()
    proxy = bench.start_agent()
    fifty = {f"br{i}": {"ipaddr": f"10.{i // 200}.{i % 200}.1", "prefix": 24}
             for i in range(50)}
    check(proxy.setupNetworks(fifty, {}, {}))
    running = bench.agent.subsystems["network"].service.running
    assert len(running.networks) == 50
    results = [
        ("agent getNetworkCapabilities (XML-RPC)",
         timed(lambda: check(proxy.Host.getNetworkCapabilities()), rounds)),
        ("agent getVdsCapabilities (XML-RPC, all of it)",
         timed(lambda: check(proxy.getVdsCapabilities()), rounds)),
        ("netinfo read + networks report alone",
         timed(lambda: report.networks(running, read_devices(NS)),
               rounds)),
        ("ip -j -d link + ip -j addr (2 processes)",
         timed(lambda: (subprocess.run(["ip", "-n", NS, "-j", "-d", "link"],
                                       capture_output=True, check=True),
                        subprocess.run(["ip", "-n", NS, "-j", "addr"],
                                       capture_output=True, check=True)),
               rounds)),
    ]
    bench.stop_agent()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    bench = Bench()
    try:
        results = setup_benchmark(bench, args.rounds)
        results += caps_benchmark(bench, args.rounds)
    finally:
        bench.close()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    print(f"median of {args.rounds} rounds, milliseconds")
    for label, ms in results:
        print(f"  {label:<55} {ms:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
