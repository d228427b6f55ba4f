"""Schema-driven API fuzzing: hostile arguments for every verb (test aid).

Used by tests/api/fuzz_test.py (a few thousand calls in CI) and by
benchmarks/fuzz.py (a long run). Every value comes from one seeded
``random.Random``, so a failing call is reproduced by its seed and call
number; :func:`describe` prints both with the call itself.

A call is built from the verb's schema: each parameter gets a value of
its type (often a valid one, so calls get past validation and into the
subsystems) or a hostile one (wrong type, None, huge or odd unicode
string, path traversal, negative or huge integer, deep nesting), and
parameters are sometimes left out or added. Both bindings are driven:
XML-RPC (positional, classic order) and JSON-RPC over STOMP (named).
"""

from __future__ import annotations

import random
import uuid
import xmlrpc.client
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vdsm.api.schema import Param, Verb

BLANK = "00000000-0000-0000-0000-000000000000"
# A few ids reused across calls, so that one call finds what another made.
UUIDS = [BLANK] + [str(uuid.UUID(int=i * 0x1111_1111_1111_1111)) for i in
                   range(1, 6)]
TRAVERSALS = [
    "..", "../", "../../../../etc/passwd", "/etc/passwd", "/", "/etc",
    "/proc/self/environ", "/dev/null", "/root", "a/../../../b", "./.",
    "..\\..\\windows", "%2e%2e%2f%2e%2e%2fetc", "/nonexistent/dir",
    f"{BLANK}/../../..", f"../{BLANK}", f"{BLANK}/../../../etc/passwd",
    "~root", "$(id)", "`id`", "; rm -rf /nonexistent", "-rf", "--help",
]
UNICODE = [
    "", " ", "\u00e9t\u00e9", "\u202egnp.exe", "\U0001f4a9" * 10,
    "\u0000nul", "tab\tnew\nline\r", "\ufeffbom", "\u4e2d\u6587",
    "\x7f\x1b[31m", "a" * 255, "'\"<>&", "%s%s%n", "{0}{1}", "\\x00",
]
INTS = [0, 1, -1, 2, 4, 5, 7, -2**31, 2**31 - 1, 2**31, 2**63, -2**63 - 1,
        10**30, -10**30]
FLOATS = [0.0, -0.0, 1e308, -1e308, 1e-308, float("inf"), float("-inf"),
          float("nan")]
# Keys the subsystems look for in structs (VM, device, network, storage
# connection), and words they expect as values.
STRUCT_KEYS = [
    "vmId", "vmName", "memSize", "smp", "display", "devices", "drives",
    "custom", "boot", "bootOrder", "keyMap", "kvmEnable", "restoreState",
    "type", "device", "deviceId", "specParams", "model", "macAddr",
    "network", "nicModel", "iface", "index", "path", "format", "readonly",
    "propagateErrors", "volumeID", "imageID", "domainID", "poolID",
    "drive", "nic", "nics", "bonding", "bridged", "vlan", "ipaddr",
    "netmask", "gateway", "defaultRoute", "mtu", "bootproto", "ipv6addr",
    "STP", "remove", "options", "connectivityCheck", "connectivityTimeout",
    "id", "connection", "vfsType", "mntOptions", "user", "password", "iqn",
    "portal", "port", "tpgt", "protocol_version", "listen", "port",
]
LIST_KEYS = ("devices", "drives", "nics")
WORDS = ["nic0", "nic1", "bridge", "disk", "cdrom", "floppy", "file", "raw",
         "cow", "qcow2", "virtio", "ide", "vnc", "spice", "dhcp", "none",
         "static", "true", "false", "1024", "10.0.0.1", "255.255.255.0",
         "fe80::1/64", "interface", "memballoon", "console", "graphics",
         "balloon", "us", "4", "tmpfs", "ext4", "ro"]
TYPES = ("string", "int", "bool", "float", "object", "list", "uuid", "none")


@dataclass
class Call:
    """One call as it goes on the wire."""

    seq: int
    binding: str           # "xmlrpc" or "jsonrpc"
    verb: Verb
    method: str            # the name sent
    args: Any              # a list (xmlrpc) or a dict (jsonrpc)


@dataclass
class Tally:
    """What the agent answered, by status code, and what went wrong."""

    codes: Counter = field(default_factory=Counter)
    verbs: Counter = field(default_factory=Counter)
    defects: list[str] = field(default_factory=list)
    unsendable: int = 0

    @property
    def calls(self) -> int:
        return sum(self.codes.values())


class Fuzzer:
    """Seeded generator of hostile calls for the verbs of a schema."""

    def __init__(self, seed: int, verbs: list[Verb], *,
                 paths: list[str] = (), known: dict[str, Any] | None = None,
                 skip: frozenset[str] = frozenset()) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.verbs = [v for v in verbs if v.name not in skip]
        self.paths = list(paths)      # safe, valid paths (under the root)
        self.known = dict(known or {})  # parameter name -> plausible values
        self.seq = 0

    # --- values ---------------------------------------------------------
    def value(self, param: Param) -> Any:
        """A value for ``param``: valid about half the time."""
        r = self.rng.random()
        if r < 0.5:
            return self.valid(param)
        if r < 0.6:
            return None
        if r < 0.75:
            return self.of_type(self.rng.choice(TYPES))
        return self.hostile(param.type)

    def valid(self, param: Param) -> Any:
        if param.enum is not None:
            return self.rng.choice(param.enum)
        if param.name in self.known and self.rng.random() < 0.7:
            return self.rng.choice(self.known[param.name])
        if param.type == "list" and param.items:
            return [self.of_type(param.items, valid=True)
                    for _ in range(self.rng.randrange(4))]
        return self.of_type(param.type, valid=True)

    def of_type(self, kind: str, *, valid: bool = False) -> Any:
        rng = self.rng
        if kind == "uuid":
            return rng.choice(UUIDS) if valid or rng.random() < 0.5 \
                else str(uuid.UUID(int=rng.getrandbits(128)))
        if kind == "string":
            if valid and self.paths and rng.random() < 0.3:
                return rng.choice(self.paths)
            return rng.choice(["x", "test", "ovirtmgmt", "nic0", "1", "true",
                               rng.choice(UUIDS)])
        if kind == "int":
            return rng.choice([0, 1, 2, 4, 5, 6, 7]) if valid \
                else rng.choice(INTS)
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "float":
            return rng.choice([0.5, 1.0, 3.0]) if valid else rng.choice(FLOATS)
        if kind == "object":
            return self.struct(depth=1 if valid else rng.randrange(3))
        if kind == "list":
            return [self.scalar() for _ in range(rng.randrange(4))]
        if kind == "any":
            return self.of_type(rng.choice(TYPES[:-1]), valid=valid)
        return None  # "none"

    def scalar(self) -> Any:
        return self.rng.choice([self.rng.choice(UUIDS), self.rng.choice(INTS),
                                self.rng.choice(UNICODE), True, None, 1.5,
                                self.rng.choice(TRAVERSALS)])

    def struct(self, depth: int) -> dict[str, Any]:
        """A dict of plausible and hostile keys and values."""
        keys = STRUCT_KEYS + [self.rng.choice(UNICODE)]
        out: dict[str, Any] = {}
        for _ in range(self.rng.randrange(5)):
            key = self.rng.choice(keys)
            if depth > 0 and self.rng.random() < 0.3:
                out[key] = self.struct(depth - 1)
            elif key in ("connection", "path") and self.paths and \
                    self.rng.random() < 0.5:
                out[key] = self.rng.choice(self.paths)
            elif key in LIST_KEYS and depth > 0:
                out[key] = [self.struct(depth - 1)
                            for _ in range(self.rng.randrange(3))]
            elif self.rng.random() < 0.4:
                out[key] = self.rng.choice(WORDS)
            else:
                out[key] = self.scalar()
        return out

    def hostile(self, kind: str) -> Any:
        rng = self.rng
        choice = rng.randrange(7)
        if choice == 0:
            return rng.choice(TRAVERSALS)
        if choice == 1:
            return rng.choice(UNICODE)
        if choice == 2:
            return rng.choice(["x" * rng.choice([4096, 65536, 1 << 20]),
                               "\U0001f600" * 20000])
        if choice == 3:
            return rng.choice(INTS + FLOATS + [str(rng.choice(INTS))])
        if choice == 4:
            return self.nested(rng.choice([10, 100, 400]))
        if choice == 5:
            return [rng.choice(UUIDS)] * rng.choice([0, 1, 1000])
        return {rng.choice(UNICODE): self.scalar()}

    def nested(self, depth: int) -> Any:
        value: Any = self.scalar()
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"k": value}
        return value

    # --- calls ----------------------------------------------------------
    def call(self) -> Call:
        """The next call: a verb, a binding, its arguments."""
        self.seq += 1
        verb = self.verbs[(self.seq - 1) % len(self.verbs)] \
            if self.seq <= 2 * len(self.verbs) else self.rng.choice(self.verbs)
        binding = "xmlrpc" if self.seq % 2 else "jsonrpc"
        present = [p for p in verb.params
                   if not p.optional or self.rng.random() < 0.5]
        if self.rng.random() < 0.4 and present:
            # near-valid: one bad value among good ones reaches deeper code
            bad = self.rng.choice(present)
            named = {p.name: self.hostile(p.type) if p is bad and
                     self.rng.random() < 0.7 else self.valid(p)
                     for p in present}
        else:
            named = {p.name: self.value(p) for p in present}
        for name in list(named):
            if self.rng.random() < 0.08:
                del named[name]   # a missing (maybe required) parameter
        if self.rng.random() < 0.05:
            named[self.rng.choice(["extra", "x" * 300, "\u00e9"])] = \
                self.scalar()
        if binding == "jsonrpc":
            args: Any = named
            if self.rng.random() < 0.02:
                args = self.rng.choice([[], "params", 7, None])
        else:
            args = [named[n] for n in verb.classic_params if n in named]
            if self.rng.random() < 0.05:
                args.append(self.scalar())
        method = (verb.classic or verb.name) if binding == "xmlrpc" \
            else verb.name
        return Call(self.seq, binding, verb, method, args)


def describe(seed: int, call: Call) -> str:
    """How to find this call again: seed, number, and the call (cut)."""
    text = repr(call.args)
    if len(text) > 300:
        text = text[:297] + "..."
    return (f"seed={seed} call#{call.seq} {call.binding} {call.method}"
            f"({text})")


def xmlrpc_args(args: list[Any]) -> list[Any]:
    """XML-RPC carries 32-bit ints only: larger ones go as strings, which
    the schema turns back into ints (a huge one stays huge)."""
    def fix(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, dict, list)):
            return value
        if isinstance(value, int):
            return value if -2**31 <= value < 2**31 else str(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return [fix(v) for v in value]
    return [fix(a) for a in args]


def answer_code(binding: str, answer: Any) -> int:
    """The status code of an answer of either binding (0: success)."""
    if binding == "xmlrpc":
        if isinstance(answer, xmlrpc.client.Fault):
            return answer.faultCode
        return answer["status"]["code"]
    if "error" in answer:
        return answer["error"]["code"]
    return 0
