"""The fence-agents stdin protocol: one ``key=value`` per line.

Every parameter, the password included, goes on the agent's stdin: a
command line is visible to every user in /proc/*/cmdline. :func:`masked`
is what may be logged of that text.

fence_ipmilan (and its aliases fence_idrac, fence_ilo3, ...) is the one
exception: it would put the password on ipmitool's command line (``-P``),
readable until ipmitool overwrites it. For it the password goes into the
environment instead (IPMI_PASSWORD, readable only by the same user and
root) and ``ipmitool_env.sh`` runs ipmitool with ``-E``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from vdsm.common.errors import InvalidParameter
from vdsm.common.secrets import MASK, is_secret_key

ACTIONS = ("status", "on", "off", "reboot")
_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_OPTION = re.compile(r"^[a-z][a-z0-9_-]*(=\S*)?$")
# The agents whose "secure" variant is a protocol switch rather than ssh.
_SECURE_OPTION = {"ipmilan": "lanplus=1"}
# Options that name a program or a file the agent would run or write as
# the agent's user: a caller of the API must not choose those.
_REFUSED_OPTIONS = frozenset({
    "passwd_script", "password_script", "ipmitool_path", "sudo_path",
    "sudo", "use_sudo", "debug_file", "debug", "identity_file",
    "ssh_path", "telnet_path", "snmpget_path", "snmpset_path",
    "snmpwalk_path", "amttool_path", "gnutlscli_path"})


IPMITOOL_ENV = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "ipmitool_env.sh")
_IPMILAN = "fence_ipmilan"


@dataclass(frozen=True)
class AgentInput:
    """What the agent gets: its stdin text and extra environment."""

    text: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FenceRequest:
    """One fenceNode call, as the classic verb takes it."""

    addr: str
    port: int | str
    agent: str
    username: str
    password: str
    action: str
    secure: bool = False
    options: str = ""


def agent_name(agent: str) -> str:
    """The agent's short name (``ipmilan`` or ``fence_ipmilan``) checked to
    be a plain name: it becomes a file name under the agents directory.
    Raises InvalidParameter."""
    name = agent.removeprefix("fence_")
    if not _AGENT_NAME.match(name):
        raise InvalidParameter(f"Invalid parameter: fence agent {agent[:80]!r}")
    return name


def parse_options(options: str) -> list[str]:
    """The extra ``key=value`` items (space- or newline-separated).

    Raises InvalidParameter for an item that is not ``key`` or
    ``key=value`` (a value cannot carry a newline into another key).
    """
    items = options.split()
    for item in items:
        if not _OPTION.match(item) or item.split("=")[0] in _REFUSED_OPTIONS:
            raise InvalidParameter(
                f"Invalid parameter: fence option {item.split('=')[0][:40]!r}")
    return items


def is_ipmilan(agent_path: str) -> bool:
    """Whether the agent is fence_ipmilan under any of its alias names."""
    return os.path.basename(os.path.realpath(agent_path)) == _IPMILAN


def build(request: FenceRequest, *, ipmilan: bool = False) -> AgentInput:
    """The agent's input; ``ipmilan``: the password through the
    environment (see the module's doc). Raises InvalidParameter."""
    if request.action not in ACTIONS:
        raise InvalidParameter(f"Invalid parameter: action {request.action!r}")
    for what, value in (("addr", request.addr), ("username", request.username),
                        ("password", request.password)):
        if "\n" in value or "\r" in value:
            raise InvalidParameter(f"Invalid parameter: {what} has a line break")
    lines = [f"ipaddr={request.addr}", f"login={request.username}",
             f"action={request.action}"]
    env = {}
    if ipmilan:
        lines.append(f"ipmitool_path={IPMITOOL_ENV}")
        env["IPMI_PASSWORD"] = request.password
    else:
        lines.append(f"passwd={request.password}")
    port = str(request.port).strip()
    if port not in ("", "0"):
        if not port.isdigit():
            raise InvalidParameter(f"Invalid parameter: port {port[:20]!r}")
        lines.append(f"ipport={port}")
    if request.secure:
        name = agent_name(request.agent)
        lines.append(_SECURE_OPTION.get(name, "secure=1"))
    lines += parse_options(request.options)
    return AgentInput("\n".join(lines) + "\n", env)


def masked(text: str) -> str:
    """``text`` with the value of every secret key replaced by MASK."""
    out = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        out.append(f"{key}={MASK}" if is_secret_key(key) else line)
    return "\n".join(out)
