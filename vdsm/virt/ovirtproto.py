"""The classic oVirt guest agent's line protocol: parsing and facts.

The guest (untrusted) writes one JSON object per line on the
``ovirt-guest-agent.0`` virtio-serial channel (``com.redhat.rhevm.vdsm``
in older definitions), named by its
``__name__`` key (heartbeat, host-name, active-user, session-lock...);
the host writes commands the same way (login, log-off, lock-screen,
refresh, api-version). Pure: no sockets here, so every rule is unit
tested (tests/virt/ovirtproto_test.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_LINE = 1 << 20        # a longer line is dropped whole, as classic does
MAX_API_VERSION = 3       # the highest version of the protocol we speak
MEMORY_STAT_KEYS = ("mem_total", "mem_unused", "mem_buffers", "mem_cached",
                    "swap_in", "swap_out", "pageflt", "majflt")
SESSION_STATES = {"session-logon": "UserLoggedOn", "session-lock": "Locked",
                  "session-unlock": "Active", "session-logoff": "LoggedOff"}
# Characters XML-RPC cannot carry; a guest could send them to break stats.
_BAD_CHARS = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f"
                        "\u007f-\u0084\u0086-\u009f\ud800-\udfff\ufffe\uffff]")


class ProtocolError(ValueError):
    """A line that is not a named JSON object."""


def encode(name: str, args: dict[str, Any] | None = None) -> bytes:
    """One host command as the line the guest reads."""
    message = dict(args or {})
    message["__name__"] = name
    return (json.dumps(message) + "\n").encode()


def parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    """``(name, args)`` of one guest line; raises ProtocolError."""
    try:
        message = json.loads(line.decode("utf-8", "replace"))
    except ValueError as e:
        raise ProtocolError(f"not JSON: {e}") from None
    if not isinstance(message, dict) or not isinstance(message.get("__name__"), str):
        raise ProtocolError("not an object with a __name__")
    message = clean(message)
    return message.pop("__name__"), message


def clean(value: Any) -> Any:
    """``value`` with the characters XML cannot carry replaced."""
    if isinstance(value, str):
        return _BAD_CHARS.sub("\ufffd", value)
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    return value


class LineBuffer:
    """Bytes from the socket in, whole lines out; overlong lines dropped."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._data = b""
        self._dropping = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._data += data
        lines = []
        while b"\n" in self._data:
            line, self._data = self._data.split(b"\n", 1)
            if self._dropping:
                self._dropping = False
            elif line.strip():
                lines.append(line)
        if len(self._data) > self.limit:
            self._data, self._dropping = b"", True
            self.dropped += 1
        return lines


def apply(facts: dict[str, Any], name: str, args: dict[str, Any]) -> int | None:
    """Fold one guest message into ``facts`` (classic stats keys).

    Returns the API version both sides speak when a heartbeat names one
    (the host then sends ``api-version``), else None. Raises ProtocolError
    for a known message missing its keys; unknown messages are ignored.
    """
    try:
        return _apply(facts, name, args)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ProtocolError(f"bad {name} message: {e!r}") from None


def _apply(facts: dict[str, Any], name: str, args: dict[str, Any]) -> int | None:
    if name == "heartbeat":
        facts["memUsage"] = int(args["free-ram"])
        stat = args.get("memory-stat") or {}
        memory = {k: str(int(stat[k])) for k in MEMORY_STAT_KEYS if k in stat}
        if "mem_unused" in memory:
            memory["mem_free"] = memory["mem_unused"]
        if memory:
            facts["memoryStats"] = memory
        version = max(0, min(int(args.get("apiVersion", 0)), MAX_API_VERSION))
        facts["guestAgentAPIVersion"] = version
        return version if "apiVersion" in args else None
    if name == "host-name":
        facts["guestName"] = str(args["name"])
    elif name == "fqdn":
        facts["guestFQDN"] = str(args["fqdn"])
    elif name == "os-version":
        facts["guestOs"] = str(args["version"])
    elif name == "network-interfaces":
        ifaces = [{"name": str(i["name"]), "hw": str(i.get("hw", "")),
                   "inet": list(i.get("inet") or []),
                   "inet6": list(i.get("inet6") or [])}
                  for i in args["interfaces"]]
        facts["netIfaces"] = ifaces
        facts["guestIPs"] = " ".join(a for i in ifaces for a in i["inet"])
    elif name == "applications":
        facts["appsList"] = [str(a) for a in args["applications"]]
    elif name == "active-user":
        facts["username"] = str(args["name"])
    elif name in SESSION_STATES:
        facts["session"] = SESSION_STATES[name]
    elif name == "disks-usage":
        facts["disksUsage"] = [{"path": str(d["path"]), "fs": str(d.get("fs", "")),
                                "total": str(int(d["total"])),
                                "used": str(int(d["used"]))}
                               for d in args["disks"]]
    elif name == "number-of-cpus":
        facts["guestCPUCount"] = int(args["count"])
    return None
