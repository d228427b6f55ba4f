from __future__ import annotations

import json
import os
import shutil
import socket
import sys

import pytest

from vdsm.common import commands
from vdsm.host import netinfo
from vdsm.host.netlink import (
    IFA_F_PERMANENT,
    IFA_F_SECONDARY,
    Address,
    DefaultRoute,
    Link,
    Snapshot,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYS_NET = "/sys/class/net"


def _sysfs(name: str, attr: str) -> str:
    with open(os.path.join(SYS_NET, name, attr)) as f:
        return f.read().strip()


def test_lo_reported_with_its_mtu():
    nics = netinfo.get()["nics"]
    assert nics["lo"]["mtu"] == _sysfs("lo", "mtu")
    assert "127.0.0.1/8" in nics["lo"]["ipv4addrs"]
    assert nics["lo"]["addr"] == "127.0.0.1"
    assert nics["lo"]["netmask"] == "255.0.0.0"


def test_real_nic_hwaddr_matches_sysfs():
    physical = [n for n in os.listdir(SYS_NET)
                if os.path.exists(os.path.join(SYS_NET, n, "device"))]
    if not physical:
        pytest.skip("no physical NIC on this machine")
    nics = netinfo.get()["nics"]
    for name in physical:
        assert nics[name]["hwaddr"] == _sysfs(name, "address")
        assert nics[name]["mtu"] == _sysfs(name, "mtu")


def test_default_gateway_matches_ip_route():
    out = commands.run(["ip", "-j", "-4", "route", "show", "default"],
                       timeout=10).out
    routes = [r for r in json.loads(out) if "gateway" in r]
    if not routes:
        pytest.skip("no IPv4 default route on this machine")
    nic = netinfo.get()["nics"].get(routes[0]["dev"])
    if nic is None:
        pytest.skip(f"default route via non-NIC {routes[0]['dev']}")
    assert nic["gateway"] == routes[0]["gateway"]
    assert nic["ipv4defaultroute"] is True


def _ip(netns: str, *args: str) -> None:
    commands.run(["ip", "-n", netns, *args], timeout=10)


@pytest.fixture
def netns():
    """A private namespace with lo, veth pair v0/v1, bridge br0 <- v0."""
    if not shutil.which("ip"):
        pytest.skip("iproute2 not installed")
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    name = f"vdsmtest-host-{os.getpid()}"
    commands.run(["ip", "netns", "add", name], timeout=10)
    try:
        _ip(name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        _ip(name, "link", "add", "br0", "type", "bridge")
        _ip(name, "link", "set", "v0", "master", "br0")
        for dev in ("lo", "v0", "v1", "br0"):
            _ip(name, "link", "set", dev, "up")
        _ip(name, "addr", "add", "10.99.7.1/24", "dev", "br0")
        _ip(name, "addr", "add", "10.99.7.2/24", "dev", "br0")
        _ip(name, "addr", "add", "10.99.8.1/24", "dev", "v1")
        _ip(name, "route", "add", "default", "via", "10.99.8.254")
        yield name
    finally:
        commands.run(["ip", "netns", "del", name], timeout=10)


def test_bridge_in_namespace(netns):
    info = netinfo.get(netns=netns)
    assert set(info["nics"]) == {"lo", "v0", "v1"}  # not the host's eth0
    br = info["bridges"]["br0"]
    assert br["ports"] == ["v0"]
    assert br["stp"] == "off"
    assert br["addr"] == "10.99.7.1" and br["netmask"] == "255.255.255.0"
    assert br["ipv4addrs"] == ["10.99.7.1/24", "10.99.7.2/24"]
    assert br["opts"]["forward_delay"].isdigit()
    assert "multicast_snooping" in br["opts"]
    v1 = info["nics"]["v1"]
    assert v1["gateway"] == "10.99.8.254" and v1["ipv4defaultroute"] is True
    assert v1["dhcpv4"] is False


def test_probe_run_inside_namespace(netns):
    """The module run by `ip netns exec` sees the namespace's sysfs too."""
    out = commands.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m",
         "vdsm.host.netinfo"], timeout=30, cwd=REPO).out
    info = json.loads(out)
    assert info["bridges"]["br0"]["ports"] == ["v0"]
    assert info["nics"]["v0"]["speed"] == 10000  # veth reports 10 Gb/s


def test_missing_namespace_is_not_created():
    name = f"vdsmtest-absent-{os.getpid()}"
    with pytest.raises(FileNotFoundError):
        netinfo.get(netns=name)
    assert not os.path.exists(f"/run/netns/{name}")


def _snapshot_with_bond_and_vlan() -> Snapshot:
    links = [
        Link(1, "lo", None, "00:00:00:00:00:00", 65536, "UNKNOWN"),
        Link(2, "eth0", None, "52:54:00:00:00:01", 1500, "UP", master=4,
             perm_hwaddr="52:54:00:00:00:01"),
        Link(3, "eth1", None, "52:54:00:00:00:01", 1500, "UP", master=4,
             perm_hwaddr="52:54:00:00:00:02"),
        Link(4, "bond0", "bond", "52:54:00:00:00:01", 1500, "UP",
             data={"IFLA_BOND_MODE": 1, "IFLA_BOND_MIIMON": 100,
                   "IFLA_BOND_ACTIVE_SLAVE": 3}),
        Link(5, "bond0.100", "vlan", "52:54:00:00:00:01", 1500, "UP",
             parent=4, data={"IFLA_VLAN_ID": 100}),
        Link(6, "vnet0", "tun", "fe:54:00:00:00:09", 1500, "UP"),
    ]
    addrs = [
        Address(5, socket.AF_INET, "192.0.2.10", 24),
        Address(5, socket.AF_INET, "198.51.100.7", 24,
                flags=IFA_F_PERMANENT | IFA_F_SECONDARY),
        Address(5, socket.AF_INET6, "2001:db8::10", 128, flags=0),
        Address(5, socket.AF_INET6, "fe80::1", 64, scope=253),
        Address(4, socket.AF_INET, "203.0.113.5", 24, flags=0),
    ]
    routes = [DefaultRoute(socket.AF_INET, "192.0.2.1", 5),
              DefaultRoute(socket.AF_INET6, "2001:db8::1", 5)]
    return Snapshot(links, addrs, routes)


def test_build_bond_and_vlan():
    speeds = {"eth0": 1000, "eth1": 10000}
    info = netinfo.build(_snapshot_with_bond_and_vlan(),
                         speed=lambda name: speeds.get(name, 0))
    assert set(info["nics"]) == {"lo", "eth0", "eth1"}  # no tap vnet0
    assert info["nics"]["eth1"]["permhwaddr"] == "52:54:00:00:00:02"
    bond = info["bondings"]["bond0"]
    assert bond["slaves"] == ["eth0", "eth1"]
    assert bond["active_slave"] == "eth1"
    assert bond["opts"] == {"mode": "1", "miimon": "100"}
    assert bond["speed"] == 10000  # active-backup: the active slave's
    assert bond["dhcpv4"] is True  # its only address is dynamic
    vlan = info["vlans"]["bond0.100"]
    assert (vlan["iface"], vlan["vlanid"], vlan["mtu"]) == ("bond0", 100, 1500)
    assert vlan["addr"] == "192.0.2.10"
    assert vlan["ipv4addrs"] == ["192.0.2.10/24", "198.51.100.7/24"]
    assert vlan["ipv6addrs"] == ["2001:db8::10/128"]  # link-local left out
    assert vlan["dhcpv6"] is True
    assert vlan["gateway"] == "192.0.2.1"
    assert vlan["ipv6gateway"] == "2001:db8::1"


def test_primary_address_prefers_gateway_subnet():
    links = [Link(1, "eth0", None, "52:54:00:00:00:01", 1500)]
    addrs = [Address(1, socket.AF_INET, "10.0.0.5", 8),
             Address(1, socket.AF_INET, "192.0.2.10", 24)]
    routes = [DefaultRoute(socket.AF_INET, "192.0.2.1", 1)]
    nic = netinfo.build(Snapshot(links, addrs, routes))["nics"]["eth0"]
    assert (nic["addr"], nic["netmask"]) == ("192.0.2.10", "255.255.255.0")


def test_nameservers(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("# comment\nsearch example.com\nnameserver 192.0.2.53\n"
                    "nameserver 2001:db8::53\n")
    assert netinfo.nameservers(str(path)) == ["192.0.2.53", "2001:db8::53"]
    assert netinfo.nameservers(str(tmp_path / "absent")) == []
