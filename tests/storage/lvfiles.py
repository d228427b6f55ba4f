"""lvfiles (tests/storage/lvfiles.c): the LVs of a VG as regular files.

This kernel has no device-mapper, so an LV cannot be activated and
/dev/VG/LV never exists. ``LVFiles`` reads where each LV's extents lie
on its PVs (``lvs -o seg_pe_ranges``, ``pvs -o pe_start``, the VG's
extent size) and mounts a FUSE file system that serves MOUNTPOINT/<lv>
by pread/pwrite at those byte ranges of the PV devices: what a block
domain reads and writes through its LVs, the test reads and writes
through these files (a truncate never changes their size, as with a device).
The map is taken at ``start()``; after changing the
VG's LVs call ``refresh()``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence

from tests.storage import fusefs
from tests.storage.helpers import HERE, wait_for
from vdsm.common import commands
from vdsm.storage import lvm_cmd
from vdsm.storage.connections import mounts

SOURCE = os.path.join(HERE, "lvfiles.c")

Extent = tuple[str, int, int]          # (device, byte offset, byte length)


def unavailable() -> str | None:
    """Why lvfiles cannot run here, or None (same needs as freezefs)."""
    return fusefs.unavailable()


def build() -> str:
    return fusefs.build(SOURCE, "lvfiles")


def _report(kind: str, devices: Sequence[str], fields: str, vg: str) -> list[dict]:
    argv = ["lvm", f"{kind}s", "--config", lvm_cmd.config(devices, activation=False),
            "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields,
            "--select", f"vg_name={vg}"]
    return json.loads(commands.run(argv, timeout=60).out)["report"][0][kind]


def parse_map(lvs: list[dict], pvs: list[dict],
              extent_size: int) -> dict[str, list[Extent]]:
    """Byte ranges of every LV on its PVs, in LV order.

    ``lvs`` rows have lv_name, seg_start_pe, seg_pe_ranges
    (``/dev/loop3:10-19``, PV extents, inclusive); ``pvs`` rows pv_name
    and pe_start (bytes). Raises ValueError for a segment on no listed PV.
    """
    pe_start = {pv["pv_name"]: int(pv["pe_start"]) for pv in pvs}
    segments: dict[str, list[tuple[int, list[Extent]]]] = {}
    for row in lvs:
        ranges = []
        for part in row["seg_pe_ranges"].split():
            device, _, span = part.rpartition(":")
            if device not in pe_start:
                raise ValueError(f"LV {row['lv_name']} segment on unknown PV {part!r}")
            first, _, last = span.partition("-")
            ranges.append((device, pe_start[device] + int(first) * extent_size,
                           (int(last) - int(first) + 1) * extent_size))
        start = int(row["seg_start_pe"])
        segments.setdefault(row["lv_name"], []).append((start, ranges))
    return {name: [r for _, rs in sorted(segs) for r in rs]
            for name, segs in segments.items()}


def extent_map(devices: Sequence[str], vg: str) -> dict[str, list[Extent]]:
    """Where the LVs of ``vg`` (on ``devices``) lie, from real LVM reports."""
    extent_size = int(_report("vg", devices, "vg_extent_size", vg)[0]["vg_extent_size"])
    lvs = _report("lv", devices, "lv_name,seg_start_pe,seg_pe_ranges", vg)
    pvs = _report("pv", devices, "pv_name,pe_start", vg)
    return parse_map(lvs, pvs, extent_size)


class LVFiles:
    """MOUNTPOINT/<lv> for every LV of a VG; ``path(lv)`` names one."""

    def __init__(self, devices: Sequence[str], vg: str, mountpoint: str) -> None:
        self.devices = list(devices)
        self.vg = vg
        self.mountpoint = mountpoint
        self.extents: dict[str, list[Extent]] = {}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> LVFiles:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def path(self, lv: str) -> str:
        return os.path.join(self.mountpoint, lv)

    def start(self) -> LVFiles:
        self.extents = extent_map(self.devices, self.vg)
        os.makedirs(self.mountpoint, exist_ok=True)
        mapfile = self.mountpoint.rstrip("/") + ".map"
        with open(mapfile, "w") as f:
            for name, extents in self.extents.items():
                triplets = (f"{d} {o} {n}" for d, o, n in extents)
                f.write(" ".join([name, *triplets]) + "\n")
        self.proc = subprocess.Popen(
            [build(), "-f", "-o", "allow_other", mapfile, self.mountpoint],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: mounts.find_mount(self.mountpoint) is not None
                 or self.proc.poll() is not None, 10, "the lvfiles mount")
        if self.proc.poll() is not None:
            raise RuntimeError(f"lvfiles failed: {self.proc.stderr.read()!r}")
        return self

    def refresh(self) -> None:
        """Remount with the VG's current LVs."""
        self.stop()
        self.start()

    def stop(self) -> None:
        """Unmount (lazily if busy) and stop the daemon by pid."""
        if self.proc is None:
            return
        fusefs.stop_daemon(self.proc, self.mountpoint)
        self.proc = None
