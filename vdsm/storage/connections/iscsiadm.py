"""iscsiadm (open-iscsi) command lines and output parsing.

Pure functions: supervdsm runs the commands (root only). Exit codes of
iscsiadm that matter here: 15 session exists (a repeated login is fine),
21 no objects found (no sessions), 24 login authentication failed; others
are failures.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vdsm.common.errors import InvalidParameter

ISCSIADM = "iscsiadm"
RC_SESSION_EXISTS = 15
RC_NO_OBJECTS = 21
RC_LOGIN_AUTH_FAILED = 24

_IQN = re.compile(r"^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s]+)?|eui\.[0-9A-Fa-f]{16})$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_IFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_TARGET_LINE = re.compile(r"^(?P<portal>\[[0-9A-Fa-f:.]+\]|[^\s:,\[]+):(?P<port>\d+),"
                          r"(?P<tpgt>-?\d+)\s+(?P<iqn>\S+)$")
_SESSION_LINE = re.compile(r"^(?P<transport>\w+):\s+\[(?P<sid>\d+)\]\s+"
                           r"(?P<portal>\[[0-9A-Fa-f:.]+\]|[^\s:,\[]+):(?P<port>\d+),"
                           r"(?P<tpgt>-?\d+)\s+(?P<iqn>\S+)")


@dataclass(frozen=True)
class Target:
    portal: str
    port: int
    tpgt: int
    iqn: str

    @property
    def address(self) -> str:
        """``ip:port,tpgt`` as iscsiadm's -p wants it."""
        return f"{_bracket(self.portal)}:{self.port},{self.tpgt}"


@dataclass(frozen=True)
class Session:
    sid: int
    transport: str
    target: Target


def _bracket(host: str) -> str:
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host


def check_portal(portal: str, port: int) -> None:
    """Raise InvalidParameter for a portal or port iscsiadm must not get."""
    host = portal.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host):
            raise InvalidParameter(f"invalid iSCSI portal {portal!r}") from None
    if not 0 < port < 65536:
        raise InvalidParameter(f"invalid iSCSI port {port}")


def check_iqn(iqn: str) -> None:
    if not _IQN.match(iqn):
        raise InvalidParameter(f"invalid iSCSI target name {iqn!r}")


def check_iface(iface: str) -> None:
    if not _IFACE.match(iface):
        raise InvalidParameter(f"invalid iSCSI interface {iface!r}")


def discovery_argv(portal: str, port: int, iface: str = "default") -> list[str]:
    """SendTargets discovery of one portal."""
    check_portal(portal, port)
    check_iface(iface)
    return [ISCSIADM, "-m", "discovery", "-t", "sendtargets", "-I", iface,
            "-p", f"{_bracket(portal)}:{port}"]


def node_argv(target: Target, iface: str, *extra: str) -> list[str]:
    check_portal(target.portal, target.port)
    check_iqn(target.iqn)
    check_iface(iface)
    return [ISCSIADM, "-m", "node", "-T", target.iqn, "-I", iface, "-p",
            target.address, *extra]


def new_node_argv(target: Target, iface: str = "default") -> list[str]:
    return node_argv(target, iface, "--op=new")


def delete_node_argv(target: Target, iface: str = "default") -> list[str]:
    return node_argv(target, iface, "--op=delete")


def auth_argvs(target: Target, user: str, password: str,
               iface: str = "default") -> list[list[str]]:
    """The updates that set CHAP credentials on a node record (the password
    is an argument: run them with it as a secret)."""
    settings = [("node.session.auth.authmethod", "CHAP"),
                ("node.session.auth.username", user),
                ("node.session.auth.password", password)]
    return [node_argv(target, iface, "-n", key, "-v", value, "--op=update")
            for key, value in settings]


def login_argv(target: Target, iface: str = "default") -> list[str]:
    return node_argv(target, iface, "-l")


def logout_argv(target: Target, iface: str = "default") -> list[str]:
    return node_argv(target, iface, "-u")


def session_argv() -> list[str]:
    return [ISCSIADM, "-m", "session"]


def parse_targets(out: str) -> list[Target]:
    """Targets from discovery (or ``-m node``) output: ``ip:port,tpgt iqn``."""
    targets = []
    for line in out.splitlines():
        m = _TARGET_LINE.match(line.strip())
        if m:
            targets.append(Target(m["portal"].strip("[]"), int(m["port"]),
                                  int(m["tpgt"]), m["iqn"]))
    return targets


def parse_sessions(out: str) -> list[Session]:
    """Sessions from ``iscsiadm -m session``:
    ``tcp: [1] 10.0.0.1:3260,1 iqn... (non-flash)``."""
    sessions = []
    for line in out.splitlines():
        m = _SESSION_LINE.match(line.strip())
        if m:
            sessions.append(Session(int(m["sid"]), m["transport"], Target(
                m["portal"].strip("[]"), int(m["port"]), int(m["tpgt"]), m["iqn"])))
    return sessions
