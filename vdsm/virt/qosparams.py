"""QoS requests checked and shaped, pure: no libvirt.

The engine speaks the classic structures (``ioTune`` maps of the six
libvirt throttle keys, ``vcpuLimit`` in percent); this module turns them
into exactly what libvirt is handed, so a bad request is refused before
anything on the domain changes. What was set lives in the VM definition
under ``qos`` (kept in the domain metadata, so it survives an agent
restart): ``ioTune`` and ``ioTunePolicy`` by drive name, ``vcpuQuota``,
``vcpuPeriod`` and ``vcpuLimit``.
"""

from __future__ import annotations

from typing import Any, Callable

from vdsm.common.errors import VdsmError

IOTUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")
# libvirt's accepted ranges (qemu driver): period in µs, quota in µs per
# period; a quota of -1 (or 0 here) means no limit.
PERIOD_RANGE = (1000, 1000000)
QUOTA_RANGE = (1000, 17592186044415)
DEFAULT_PERIOD = 100000
_LIMIT_MAX = 1 << 53       # far beyond any disk; keeps the number exact

ErrorType = Callable[[str], VdsmError]


def io_limits(value: Any, error: ErrorType, what: str = "ioTune") -> dict[str, int]:
    """All six throttle values (unset ones 0, libvirt's "no limit").

    Raises ``error`` on a non-map, an unknown key, a value that is not a
    non-negative integer, or a total given with its read or write part
    (libvirt refuses the mix).
    """
    if not isinstance(value, dict):
        raise error(f"{what} must be a map of {', '.join(IOTUNE_KEYS)}")
    unknown = sorted(set(value) - set(IOTUNE_KEYS))
    if unknown:
        raise error(f"{what}: unknown keys {', '.join(unknown)}")
    limits = {}
    for key in IOTUNE_KEYS:
        raw = value.get(key, 0)
        try:
            number = int(raw) if not isinstance(raw, bool) else -1
        except (TypeError, ValueError):
            number = -1
        if not 0 <= number <= _LIMIT_MAX:
            raise error(f"{what}: {key} must be an integer from 0 to "
                        f"{_LIMIT_MAX}, got {raw!r}")
        limits[key] = number
    for kind in ("bytes", "iops"):
        if limits[f"total_{kind}_sec"] and (limits[f"read_{kind}_sec"]
                                            or limits[f"write_{kind}_sec"]):
            raise error(f"{what}: total_{kind}_sec cannot be given with "
                        f"read_{kind}_sec or write_{kind}_sec")
    return limits


def find_drive(drives: list[dict[str, Any]], spec: Any,
               error: ErrorType) -> dict[str, Any]:
    """The drive (``{name, path}`` of the live XML) a request names by
    ``name`` or ``path``; ``error`` when it names none of them."""
    if not isinstance(spec, dict):
        raise error("each item must be a map with name or path")
    name, path = spec.get("name"), spec.get("path")
    if not name and not path:
        raise error("each item needs the drive's name or path")
    for drive in drives:
        if (name and drive["name"] == name) or (path and drive["path"] == path):
            return drive
    raise error(f"no such drive: {name or path}")


def tunables(drives: list[dict[str, Any]], items: Any,
             error: ErrorType) -> dict[str, dict[str, int]]:
    """setIoTune's list as ``{drive name: limits}``; the whole list is
    checked before anything is applied."""
    if not isinstance(items, list) or not items:
        raise error("tunables must be a non-empty list")
    result = {}
    for item in items:
        drive = find_drive(drives, item, error)
        result[drive["name"]] = io_limits(
            item.get("ioTune"), error, f"ioTune of {drive['name']}")
    return result


def policies(drives: list[dict[str, Any]], items: Any,
             error: ErrorType) -> dict[str, dict[str, dict[str, int]]]:
    """updateVmPolicy's ioTune list as ``{drive name: {maximum,
    guaranteed}}``; ``maximum`` is what libvirt enforces."""
    if not isinstance(items, list):
        raise error("ioTune must be a list")
    result = {}
    for item in items:
        drive = find_drive(drives, item, error)
        name = drive["name"]
        result[name] = {
            part: io_limits(item.get(part) or {}, error, f"{part} of {name}")
            for part in ("maximum", "guaranteed")}
    return result


def cpu_value(value: Any, key: str, error: ErrorType) -> int:
    """A vcpu_quota (-1 or 0: unlimited) or vcpu_period within libvirt's
    range; ``error`` otherwise."""
    low, high = PERIOD_RANGE if key == "vcpu_period" else QUOTA_RANGE
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if key == "vcpu_quota" and number in (0, -1):
        return -1
    if number is None or not low <= number <= high:
        raise error(f"{key} must be an integer from {low} to {high}"
                    + (" (or -1 for no limit)" if key == "vcpu_quota" else "")
                    + f", got {value!r}")
    return number


def vcpu_limit(limit: Any, error: ErrorType) -> int:
    """updateVmPolicy's vcpuLimit: a percentage from 1 to 100 (100: no
    limit); ``error`` otherwise."""
    try:
        percent = int(limit) if not isinstance(limit, bool) else 0
    except (TypeError, ValueError):
        percent = 0
    if not 1 <= percent <= 100:
        raise error(f"vcpuLimit must be a percentage from 1 to 100, got {limit!r}")
    return percent


def disk_drives(live_disks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The disks (not CD-ROMs) among the live XML's drives."""
    return [d for d in live_disks if d.get("device", "disk") == "disk"]


def drive_entries(drives: list[dict[str, Any]],
                  by_name: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{name, path, **value}]`` for the drives that have a value."""
    paths = {d["name"]: d["path"] for d in drives}
    return [{"name": name, "path": paths.get(name, ""), **value}
            for name, value in sorted(by_name.items())]


def stats(qos: dict[str, Any], drives: list[dict[str, Any]]) -> dict[str, Any]:
    """The classic VmStats keys of what was set (nothing when nothing was)."""
    result: dict[str, Any] = {}
    if "vcpuQuota" in qos:
        result["vcpuQuota"] = str(qos["vcpuQuota"])
    if "vcpuPeriod" in qos:
        result["vcpuPeriod"] = qos["vcpuPeriod"]
    if "vcpuLimit" in qos:
        result["vcpuUserLimit"] = qos["vcpuLimit"]
    if qos.get("ioTune"):
        result["ioTune"] = drive_entries(
            drives, {n: {"ioTune": v} for n, v in qos["ioTune"].items()})
    return result
