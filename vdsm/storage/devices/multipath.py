"""multipathd's view of the LUNs, where multipathd runs.

On a SAN host every LUN reaches the host over several paths and
multipathd joins them into one map named by the LUN's WWID; the map's
path states (which path the kernel has failed) come from device-mapper,
not from the SCSI layer. Two sources, both root-only and run through
supervdsm (:mod:`vdsm.supervdsm.ops_devices`): ``multipathd show maps
json`` (names, WWIDs and every path's states) and ``dmsetup status
--target multipath`` (per path A/F from the kernel, when multipathd is
not answering). Pure command lines and parsers here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

MULTIPATHD = "multipathd"
DMSETUP = "dmsetup"

# a path in a multipath target's status line: "major:minor A|F fail_count"
_PATH_STATUS = re.compile(r"(?P<devnum>\d+:\d+)\s+(?P<status>[AF])\b")
_DM_STATE = {"A": "active", "F": "failed"}


class MultipathParseError(ValueError):
    """multipathd answered something that is not its maps document."""


@dataclass(frozen=True)
class MapPath:
    dev: str  # sdb
    dev_t: str  # 8:16
    state: str  # "active" | "failed", device-mapper's view
    checker: str  # "ready" | "faulty" | "ghost" | ...


@dataclass(frozen=True)
class MultipathMap:
    name: str  # the WWID unless user_friendly_names
    wwid: str
    sysfs: str  # dm-2
    paths: tuple[MapPath, ...]


def maps_argv() -> list[str]:
    return [MULTIPATHD, "show", "maps", "json"]


def status_argv() -> list[str]:
    return [DMSETUP, "status", "--target", "multipath"]


def parse_maps(out: str) -> list[MultipathMap]:
    """The maps of ``multipathd show maps json``; raises
    MultipathParseError for anything else (an error text, other JSON)."""
    try:
        doc = json.loads(out)
        return [MultipathMap(
            name=m["name"], wwid=m["uuid"], sysfs=m["sysfs"],
            paths=tuple(MapPath(p["dev"], p["dev_t"],
                                "active" if p["dm_st"] == "active" else "failed",
                                p["chk_st"])
                        for group in m["path_groups"] for p in group["paths"]))
            for m in doc["maps"]]
    except (ValueError, KeyError, TypeError) as e:
        raise MultipathParseError(f"unexpected multipathd maps output: {e}") from None


def parse_status(out: str) -> dict[str, dict[str, str]]:
    """{map name: {major:minor: "active"|"failed"}} from ``dmsetup status
    --target multipath``. "No devices found" (no map at all) is empty."""
    maps: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        name, sep, status = line.partition(":")
        if not sep or " multipath " not in status:
            continue
        maps[name.strip()] = {m["devnum"]: _DM_STATE[m["status"]]
                              for m in _PATH_STATUS.finditer(status)}
    return maps


def path_states(maps: Iterable[MultipathMap]) -> dict[str, str]:
    """{path device name: state} over all maps, to override the SCSI
    state of the listing with device-mapper's."""
    return {p.dev: p.state for m in maps for p in m.paths}


def maps_to_answer(maps: Iterable[MultipathMap]) -> list[dict[str, Any]]:
    """Maps as JSON for the supervdsm answer."""
    return [asdict(m) for m in maps]


def maps_from_answer(answer: Iterable[dict[str, Any]]) -> list[MultipathMap]:
    return [MultipathMap(m["name"], m["wwid"], m["sysfs"],
                         tuple(MapPath(**p) for p in m["paths"])) for m in answer]
