"""LVM reports: the fields asked for, and their JSON parsed into dataclasses.

Reports are read with ``--reportformat json --units b --nosuffix``: sizes
are plain byte counts, lists (tags, devices) are comma separated. A report
with segment fields (``devices``) has one row per segment, and ``vgs`` with
``pv_name`` one row per PV: rows of one object are merged by UUID.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PV_FIELDS = ("pv_name", "pv_uuid", "pv_size", "pv_free", "vg_name",
             "pv_pe_count", "pv_pe_alloc_count", "dev_size", "pe_start",
             "pv_mda_count", "pv_mda_used_count", "pv_mda_size", "pv_mda_free")
VG_FIELDS = ("vg_name", "vg_uuid", "vg_size", "vg_free", "vg_extent_size",
             "vg_extent_count", "vg_free_count", "vg_tags", "vg_attr",
             "vg_mda_size", "vg_mda_free", "vg_mda_count", "lv_count",
             "pv_count", "pv_name")
LV_FIELDS = ("lv_name", "vg_name", "lv_uuid", "lv_size", "lv_tags", "lv_attr",
             "devices")

FIELDS = {"pv": PV_FIELDS, "vg": VG_FIELDS, "lv": LV_FIELDS}


class ReportError(ValueError):
    """A report that is not the JSON shape LVM writes."""


@dataclass(frozen=True)
class PV:
    name: str
    uuid: str
    size: int
    free: int
    vg_name: str
    pe_count: int
    pe_alloc_count: int
    dev_size: int
    pe_start: int
    mda_count: int
    mda_used_count: int
    mda_size: int
    mda_free: int


@dataclass(frozen=True)
class VG:
    name: str
    uuid: str
    size: int
    free: int
    extent_size: int
    extent_count: int
    free_count: int
    tags: tuple[str, ...]
    attr: str
    mda_size: int
    mda_free: int
    mda_count: int
    lv_count: int
    pv_names: tuple[str, ...]

    @property
    def writeable(self) -> bool:
        return self.attr[:1] == "w"

    @property
    def partial(self) -> bool:
        """A PV of the VG is missing (attr[3] == 'p')."""
        return self.attr[3:4] == "p"


@dataclass(frozen=True)
class LV:
    name: str
    vg_name: str
    uuid: str
    size: int
    tags: tuple[str, ...]
    attr: str
    devices: tuple[str, ...]

    @property
    def writeable(self) -> bool:
        return self.attr[1:2] == "w"

    @property
    def active(self) -> bool:
        """Active on this host ('X', state unknown without device-mapper,
        counts as inactive)."""
        return self.attr[4:5] == "a"

    @property
    def opened(self) -> bool:
        return self.attr[5:6] == "o"


def rows(text: str, kind: str) -> list[dict[str, str]]:
    """The rows of a JSON report of ``kind`` (pv, vg, lv).

    Raises ReportError when the text is not such a report."""
    try:
        report = json.loads(text)["report"]
        rows = [row for part in report for row in part[kind]]
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(f"not an LVM {kind} report: {e}") from None
    for row in rows:
        if not isinstance(row, dict) or not set(FIELDS[kind]) <= set(row):
            raise ReportError(f"LVM {kind} row lacks fields: {row!r}")
    return rows


def _list(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def _int(value: str) -> int:
    return int(value) if value else 0


def from_values(kind: str, values: list[list[str]]) -> list[dict[str, str]]:
    """Rows back from lists of values in FIELDS[kind] order.

    Raises ReportError on a row of the wrong length."""
    fields = FIELDS[kind]
    if any(not isinstance(v, list) or len(v) != len(fields) for v in values):
        raise ReportError(f"LVM {kind} rows do not match the fields")
    return [dict(zip(fields, v, strict=True)) for v in values]


def parse_pvs(report: list[dict[str, str]]) -> list[PV]:
    """PVs of ``pvs`` report rows, one per PV."""
    return [PV(r["pv_name"], r["pv_uuid"], _int(r["pv_size"]),
               _int(r["pv_free"]), r["vg_name"], _int(r["pv_pe_count"]),
               _int(r["pv_pe_alloc_count"]), _int(r["dev_size"]),
               _int(r["pe_start"]), _int(r["pv_mda_count"]),
               _int(r["pv_mda_used_count"]), _int(r["pv_mda_size"]),
               _int(r["pv_mda_free"]))
            for r in report]


def parse_vgs(report: list[dict[str, str]]) -> list[VG]:
    """VGs of ``vgs`` report rows, rows of one VG merged (its PVs)."""
    merged: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for row in report:
        first, pvs = merged.setdefault(row["vg_uuid"], (row, []))
        if row["pv_name"]:
            pvs.append(row["pv_name"])
    return [VG(r["vg_name"], r["vg_uuid"], _int(r["vg_size"]),
               _int(r["vg_free"]), _int(r["vg_extent_size"]),
               _int(r["vg_extent_count"]), _int(r["vg_free_count"]),
               _list(r["vg_tags"]), r["vg_attr"], _int(r["vg_mda_size"]),
               _int(r["vg_mda_free"]), _int(r["vg_mda_count"]),
               _int(r["lv_count"]), tuple(pvs))
            for r, pvs in merged.values()]


def parse_lvs(report: list[dict[str, str]]) -> list[LV]:
    """LVs of ``lvs`` report rows, segment rows of one LV merged."""
    merged: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for row in report:
        first, devices = merged.setdefault(row["lv_uuid"], (row, []))
        devices.extend(d for d in _list(row["devices"]) if d not in devices)
    return [LV(r["lv_name"], r["vg_name"], r["lv_uuid"], _int(r["lv_size"]),
               _list(r["lv_tags"]), r["lv_attr"], tuple(devices))
            for r, devices in merged.values()]


PARSERS = {"pv": parse_pvs, "vg": parse_vgs, "lv": parse_lvs}
