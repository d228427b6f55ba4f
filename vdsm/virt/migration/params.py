"""The migrate verb's parameters, checked before anything starts.

Values arrive as the classic interface sends them: vdsClient passes every
value as a string ("true", "500"), the engine as typed JSON. A request
this host cannot honour is refused with InvalidParameter (91), never
silently downgraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vdsm.common.errors import InvalidParameter, MissingParameter

DEFAULT_PORT = 54321
ACTIONS = ("setDowntime", "abort", "postcopy")


@dataclass(frozen=True)
class Action:
    name: str               # setDowntime | abort | postcopy
    value: int | None = None  # setDowntime: milliseconds

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}({self.value})"


@dataclass(frozen=True)
class StallStep:
    limit: int              # consecutive stalled looks; -1: after all others
    action: Action


@dataclass(frozen=True)
class Schedule:
    init: tuple[Action, ...] = ()
    stalling: tuple[StallStep, ...] = ()

    @property
    def uses_postcopy(self) -> bool:
        return any(step.action.name == "postcopy" for step in self.stalling)


@dataclass(frozen=True)
class MigrateRequest:
    vm_id: str
    dst_host: str
    dst_port: int
    dstqemu: str = ""
    downtime: int | None = None        # ms; None: the host's default
    max_bandwidth: int = 0             # MiB/s; 0: unlimited
    auto_converge: bool = False
    compressed: bool = False
    tunneled: bool = False
    abort_on_error: bool = False
    schedule: Schedule | None = None
    outgoing_limit: int | None = None
    incoming_limit: int | None = None
    console_address: str = ""
    encrypted: bool = False            # QEMU's migration stream over TLS
    parallel: int = 0                  # connections; 0: one
    zerocopy: bool = False

    @property
    def dst(self) -> str:
        return f"{self.dst_host}:{self.dst_port}"


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise InvalidParameter(f"Invalid parameter: migrate: {key} must be a "
                           f"boolean, got {value!r}")


def to_int(value: Any, what: str, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidParameter(f"Invalid parameter: migrate: {what} must be "
                               f"an integer, got {value!r}") from None
    if number < minimum:
        raise InvalidParameter(f"Invalid parameter: migrate: {what} must be "
                               f"at least {minimum}, got {number}")
    return number


def _optional_int(params: dict[str, Any], key: str, *, minimum: int) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    return to_int(value, key, minimum=minimum)


def parse_dst(dst: Any) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port)."""
    text = str(dst or "").strip()
    if not text:
        raise MissingParameter("Missing required parameter: migrate needs dst")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise InvalidParameter(f"Invalid parameter: migrate: dst {text!r}")
    return host, to_int(port, "dst port", minimum=1) if port else DEFAULT_PORT


def parse_action(raw: Any) -> Action:
    if not isinstance(raw, dict) or "name" not in raw:
        raise InvalidParameter(f"Invalid parameter: migrate: convergence "
                               f"action {raw!r} needs a name")
    name = raw["name"]
    if name not in ACTIONS:
        raise InvalidParameter(f"Invalid parameter: migrate: unknown "
                               f"convergence action {name!r}")
    args = raw.get("params") or []
    if name == "setDowntime":
        if not args:
            raise InvalidParameter("Invalid parameter: migrate: setDowntime "
                                   "needs a downtime in ms")
        return Action(name, to_int(args[0], "setDowntime", minimum=1))
    return Action(name)


def parse_schedule(raw: Any) -> Schedule | None:
    if raw in (None, "", {}):
        return None
    if not isinstance(raw, dict):
        raise InvalidParameter("Invalid parameter: migrate: "
                               "convergenceSchedule must be a struct")
    init = tuple(parse_action(a) for a in raw.get("init") or [])
    stalling = []
    for item in raw.get("stalling") or []:
        if not isinstance(item, dict) or "action" not in item:
            raise InvalidParameter(f"Invalid parameter: migrate: stalling "
                                   f"item {item!r} needs limit and action")
        limit = int(str(item.get("limit", -1)))
        stalling.append(StallStep(limit, parse_action(item["action"])))
    return Schedule(init, tuple(stalling))


def parse(params: dict[str, Any], vm_id: str) -> MigrateRequest:
    method = str(params.get("method") or "online")
    if method != "online":
        raise InvalidParameter(f"Invalid parameter: migrate: method "
                               f"{method!r}; only online is supported")
    mode = str(params.get("mode") or "remote")
    if mode != "remote":
        raise InvalidParameter(f"Invalid parameter: migrate: mode {mode!r}; "
                               "file migration is hibernate")
    host, port = parse_dst(params.get("dst"))
    downtime = _optional_int(params, "downtime", minimum=1)
    return MigrateRequest(
        vm_id=vm_id, dst_host=host, dst_port=port,
        dstqemu=str(params.get("dstqemu") or "").strip(),
        downtime=downtime,
        max_bandwidth=_optional_int(params, "maxBandwidth", minimum=0) or 0,
        auto_converge=_bool(params, "autoConverge"),
        compressed=_bool(params, "compressed"),
        tunneled=_bool(params, "tunneled"),
        abort_on_error=_bool(params, "abortOnError"),
        schedule=parse_schedule(params.get("convergenceSchedule")),
        outgoing_limit=_optional_int(params, "outgoingLimit", minimum=1),
        incoming_limit=_optional_int(params, "incomingLimit", minimum=1),
        console_address=str(params.get("consoleAddress") or ""),
        encrypted=_bool(params, "encrypted"),
        parallel=_optional_int(params, "parallel", minimum=0) or 0,
        zerocopy=_bool(params, "zerocopy"))


def default_schedule(max_downtime: int, steps: int) -> Schedule:
    """Downtime from half the maximum up to it, one step per stalled look.

    Half: most guests converge there at once (measured: a dirtying guest
    that starts at a tenth needs 5-10 times the memory passes); the steps
    cover the rest."""
    half = max(1, max_downtime // 2)
    values = [half + (max_downtime - half) * i // max(1, steps - 1)
              for i in range(steps)]
    return Schedule(
        init=(Action("setDowntime", values[0]),),
        stalling=tuple(StallStep(i, Action("setDowntime", value))
                       for i, value in enumerate(values[1:], start=1)))
