"""bootproto dhcp: the client's command line, and end to end in namespaces.

A server namespace runs dnsmasq on ``wire0``, the far end of the host
namespace's ``nic0``; ``nic1``'s wire has no server. Only namespaces are
touched; every dnsmasq and udhcpc started here is stopped by its pid.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from vdsm.network import desired, dhcp, kernel, netapply, parse
from vdsm.network.dhcp import DhcpClients
from vdsm.network.errors import FailedIfup

from .nstools import Netns, require_root_and_ip
from .rig import NICS, Rig, code

RANGE = ("192.0.2.50", "192.0.2.60")
TIMEOUT = 10  # [network] dhcp_timeout here: generous, for a loaded machine
DHCP_NET = {"nic": "nic0", "bootproto": "dhcp", "bridged": True}


def test_client_argv_in_a_namespace():
    argv = dhcp.client_argv(["busybox", "udhcpc"], "net1", pidfile="/r/p",
                            script="/r/s", timeout=7, netns="ns1")
    assert argv[:4] == ["ip", "netns", "exec", "ns1"]
    assert argv[4:6] == ["busybox", "udhcpc"]
    opts = argv[6:]
    assert opts[opts.index("-i") + 1] == "net1"
    assert opts[opts.index("-p") + 1] == "/r/p"
    assert opts[opts.index("-s") + 1] == "/r/s"
    assert opts[opts.index("-t") + 1] == "7" and opts[opts.index("-T") + 1] == "1"
    assert "-R" in opts and "-n" in opts


def test_client_argv_in_our_namespace_tries_at_least_once():
    argv = dhcp.client_argv(["udhcpc"], "eth0", pidfile="p", script="s",
                            timeout=0, netns=None)
    assert argv[0] == "udhcpc"
    assert argv[argv.index("-t") + 1] == "1"


def test_pid_of_a_stale_or_foreign_pidfile_is_none(tmp_path):
    clients = DhcpClients(str(tmp_path), netns=None, timeout=1)
    assert clients.clients() == set() and clients.pid("eth0") is None
    os.makedirs(tmp_path / "dhcp")
    (tmp_path / "dhcp" / "eth0.pid").write_text(f"{os.getpid()}\n")
    assert clients.pid("eth0") is None  # alive, but not a udhcpc
    assert clients.clients() == set()
    assert clients.stop("eth0") is False
    assert not (tmp_path / "dhcp" / "eth0.pid").exists()


SLOW_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "slow_udhcpc.py")


@pytest.fixture
def slow_clients(tmp_path) -> Iterator[tuple[Netns, DhcpClients]]:
    """A namespace with nic0/nic1 and DHCP clients whose daemon writes its
    pid file 1 s after the lease (only nic0's bridge "dnet" gets one)."""
    require_root_and_ip()
    ns = Netns(f"vdsmtest-slowdhcp-{os.getpid()}")
    clients = DhcpClients(
        str(tmp_path), netns=ns.name, timeout=1,
        program=[sys.executable, SLOW_CLIENT, "--lease-on", "dnet",
                 "--delay", "1", "udhcpc"])
    try:
        ns.veth("nic0", "wire0")
        ns.veth("nic1", "wire1")
        yield ns, clients
    finally:
        try:
            for device in clients.clients():
                clients.stop(device)
        finally:
            ns.delete()


def _want(networks: dict) -> dict:
    return desired.build(parse.config_from_dict(
        {"networks": networks, "bondings": {}}))


def _apply(ns: Netns, clients: DhcpClients, old: dict, new: dict) -> dict:
    """Change the namespace from networks ``old`` to ``new``."""
    want = _want(new)
    with kernel.open_netlink(ns.name) as ipr:
        return netapply.apply(ipr, want, desired.released(_want(old), want),
                              dhcp=clients)


def test_a_client_slow_to_daemonize_is_seen_and_rolled_back(slow_clients):
    """The race behind "ROLLBACK INCOMPLETE: DHCP client of dnet started":
    udhcpc's parent exits before its daemon rewrote the pid file. start
    must return only once the client is visible, so the change verifies
    and a later failed change stops and restarts it cleanly."""
    ns, clients = slow_clients
    _apply(ns, clients, {}, {"dnet": DHCP_NET})
    pid = clients.pid("dnet")
    assert pid is not None and ns.addresses("dnet") == ["192.0.2.77/24"]

    with pytest.raises(FailedIfup) as failure:
        _apply(ns, clients, {"dnet": DHCP_NET},
               {"lonely": {"nic": "nic1", "bootproto": "dhcp"}})
    assert "ROLLBACK INCOMPLETE" not in str(failure.value), failure.value
    assert "(rolled back)" in str(failure.value)
    assert clients.clients() == {"dnet"} and clients.pid("dnet") != pid
    assert ns.addresses("dnet") == ["192.0.2.77/24"]
    assert "lonely" not in ns.links()


def test_a_client_whose_daemon_never_shows_up_fails_and_is_killed(
        slow_clients, monkeypatch):
    ns, clients = slow_clients
    monkeypatch.setattr(dhcp, "PIDFILE_TIMEOUT", 0.5)  # the daemon takes 1 s
    ns.ip("link", "add", "dnet", "type", "bridge")
    with pytest.raises(FailedIfup, match="did not show up"):
        clients.start("dnet")
    time.sleep(1.5)  # past the daemon's delay: it would have written by now
    assert clients.pid("dnet") is None and clients.clients() == set()
    assert clients._unlisted("dnet") == []


def _need(program: str) -> None:
    if not shutil.which(program):
        pytest.skip(f"{program} is not installed (apt-get install "
                    f"{'dnsmasq-base' if program == 'dnsmasq' else program})")


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    _need("busybox")
    _need("dnsmasq")
    rig = Rig("dhcp", {("network", "dhcp_timeout"): TIMEOUT})
    try:
        yield rig
    finally:
        rig.cleanup()


@dataclasses.dataclass
class Server:
    ns: Netns
    leasefile: str

    def leases(self) -> str:
        """dnsmasq's lease database (one line per lease)."""
        try:
            with open(self.leasefile) as f:
                return f.read()
        except FileNotFoundError:
            return ""


@pytest.fixture
def server(rig: Rig, agent) -> Iterator[Server]:
    """dnsmasq in a namespace of its own, serving nic0's wire."""
    srv = Netns(f"vdsmtest-dhsrv-{os.getpid()}")
    tmp = tempfile.mkdtemp(prefix="vdsmtest-dnsmasq-")
    proc = None
    try:
        rig.ns.ip("link", "set", "wire0", "netns", srv.name)
        srv.ip("addr", "add", "192.0.2.1/24", "dev", "wire0")
        srv.ip("link", "set", "wire0", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", srv.name, "dnsmasq", "--no-daemon",
             "--conf-file=/dev/null", "--port=0", "--interface=wire0",
             "--bind-interfaces", "--no-ping", "--user=root",
             f"--dhcp-range={RANGE[0]},{RANGE[1]},255.255.255.0,10m",
             f"--dhcp-leasefile={tmp}/leases"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield Server(srv, f"{tmp}/leases")
    finally:
        try:
            clients = DhcpClients(rig.config.run_dir, netns=rig.ns_name,
                                  timeout=1)
            for device in clients.clients():
                clients.stop(device)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            srv.delete()
            shutil.rmtree(tmp, ignore_errors=True)


def _leased(addresses: list[str]) -> bool:
    low, high = (ipaddress.IPv4Address(a) for a in RANGE)
    return len(addresses) == 1 and \
        low <= ipaddress.IPv4Interface(addresses[0]).ip <= high


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _client(rig: Rig, device: str) -> int | None:
    return DhcpClients(rig.config.run_dir, netns=rig.ns_name,
                       timeout=1).pid(device)


def test_bridged_dhcp_network_gets_a_lease_and_gives_it_back(rig, agent,
                                                             server):
    before = rig.ns.snapshot()
    assert code(agent.proxy.setupNetworks({"dnet": DHCP_NET}, {}, {})) == 0
    assert rig.ns.links()["nic0"]["master"] == "dnet"
    leased = rig.ns.addresses("dnet")
    assert _leased(leased), leased
    pid = _client(rig, "dnet")
    assert pid is not None
    assert leased[0].split("/")[0] in server.leases()
    net = agent.proxy.getVdsCapabilities()["info"]["networks"]["dnet"]
    assert net["bootproto4"] == "dhcp" and net["cfg"]["bootproto"] == "dhcp"
    assert net["dhcpv4"] is True
    assert f"{net['addr']}/24" == leased[0]

    # An edit keeps the client and its lease.
    edit = {**DHCP_NET, "mtu": 1400}
    assert code(agent.proxy.setupNetworks({"dnet": edit}, {}, {})) == 0
    assert _client(rig, "dnet") == pid
    assert rig.ns.addresses("dnet") == leased

    answer = agent.proxy.setupNetworks({"dnet": {"remove": True}}, {}, {})
    assert code(answer) == 0
    assert not _alive(pid) and _client(rig, "dnet") is None
    assert rig.ns.snapshot() == before
    deadline = time.monotonic() + 15  # dnsmasq writes the release itself
    while leased[0].split("/")[0] in server.leases() and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert leased[0].split("/")[0] not in server.leases()


def test_no_server_fails_with_29_in_bounded_time_and_changes_nothing(
        rig, agent, server):
    before = rig.ns.snapshot()
    start = time.monotonic()
    answer = agent.proxy.setupNetworks(
        {"lonely": {"nic": "nic1", "bootproto": "dhcp"}}, {}, {})
    elapsed = time.monotonic() - start
    assert code(answer) == 29, answer
    assert elapsed < TIMEOUT + 10
    assert rig.ns.snapshot() == before
    assert _client(rig, "lonely") is None
    assert agent.proxy.getVdsCapabilities()["info"]["networks"] == {}


def test_failed_change_restarts_the_client_it_stopped(rig, agent, server):
    assert code(agent.proxy.setupNetworks({"dnet": DHCP_NET}, {}, {})) == 0
    leased = rig.ns.addresses("dnet")
    answer = agent.proxy.setupNetworks(
        {"dnet": {"remove": True},
         "lonely": {"nic": "nic1", "bootproto": "dhcp"}}, {}, {})
    assert code(answer) == 29, answer
    assert _client(rig, "dnet") is not None and _client(rig, "lonely") is None
    assert rig.ns.addresses("dnet") == leased  # dnsmasq gives it back
    assert "lonely" not in rig.ns.links()
    assert list(agent.proxy.getVdsCapabilities()["info"]["networks"]) == \
        ["dnet"]


def test_safe_dhcp_network_is_restored_with_its_client(rig, agent, server):
    assert code(agent.proxy.setupNetworks({"dnet": DHCP_NET}, {}, {})) == 0
    assert code(agent.proxy.setSafeNetworkConfig()) == 0
    agent.stop()
    agent.stopped = True
    # The reboot: clients gone with the run dir, devices gone, NICs bare.
    DhcpClients(rig.config.run_dir, netns=rig.ns_name, timeout=1).stop("dnet")
    rig.ns.flush(list(NICS))
    rig.forget_boot()
    assert "dnet" not in rig.ns.links()
    after = rig.start_agent()
    try:
        assert rig.ns.links()["nic0"]["master"] == "dnet"
        assert _leased(rig.ns.addresses("dnet"))
        assert _client(rig, "dnet") is not None
        net = after.proxy.getVdsCapabilities()["info"]["networks"]["dnet"]
        assert net["cfg"]["bootproto"] == "dhcp"
    finally:
        after.stop()


def test_agent_start_restarts_a_dead_client(rig, agent, server):
    assert code(agent.proxy.setupNetworks({"dnet": DHCP_NET}, {}, {})) == 0
    agent.stop()
    agent.stopped = True
    # As when supervdsmd's stop took its clients along (no reboot):
    DhcpClients(rig.config.run_dir, netns=rig.ns_name, timeout=1).stop("dnet")
    assert rig.ns.addresses("dnet") == []
    after = rig.start_agent()
    try:
        assert _client(rig, "dnet") is not None
        assert _leased(rig.ns.addresses("dnet"))
    finally:
        after.stop()
