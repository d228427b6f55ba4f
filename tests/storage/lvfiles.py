"""lvfiles (tests/storage/lvfiles.c): the LVs of a VG as regular files.

This kernel has no device-mapper, so an LV cannot be activated and
/dev/VG/LV never exists. ``LVFiles`` reads where each LV's extents lie
on its PVs (``lvs -o seg_pe_ranges``, ``pvs -o pe_start``, the VG's
extent size) and mounts a FUSE file system that serves MOUNTPOINT/<lv>
by pread/pwrite at those byte ranges of the PV devices: what a block
domain reads and writes through its LVs, the test reads and writes
through these files (a truncate never changes their size, as with a
device). The map is taken at ``start()``; after changing the
VG's LVs call ``refresh()`` (a new map, files stay open), or start with
``follow=True``: a thread then reads the VG every ``interval`` seconds
and loads the new map itself, so LVs another process (an agent, a second
"host") creates, removes or extends appear, vanish and grow in place.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Sequence

from tests.storage import fusefs
from tests.storage.helpers import HERE, wait_for
from vdsm.common import commands
from vdsm.storage import lvm_cmd
from vdsm.storage.connections import mounts

SOURCE = os.path.join(HERE, "lvfiles.c")

log = logging.getLogger(__name__)

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


def _lv_rows(devices: Sequence[str], vg: str) -> list[dict]:
    """One cheap report that changes whenever the LVs' layout does."""
    rows = _report("lv", devices, "lv_name,seg_start_pe,seg_pe_ranges", vg)
    return [row for row in rows if row.get("lv_name")]


def write_map(path: str, extents: dict[str, list[Extent]]) -> None:
    """Replace the map file by rename: the daemon sees a whole new map."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        for name, parts in extents.items():
            triplets = (f"{d} {o} {n}" for d, o, n in parts)
            f.write(" ".join([name, *triplets]) + "\n")
    os.replace(tmp, path)


class LVFiles:
    """MOUNTPOINT/<lv> for every LV of a VG; ``path(lv)`` names one."""

    def __init__(self, devices: Sequence[str], vg: str, mountpoint: str, *,
                 follow: bool = False, interval: float = 0.2,
                 owner: tuple[int, int] | None = None) -> None:
        """``owner``: (uid, gid) the LV files show, as udev rules give a
        real host's LVs to vdsm (default: root)."""
        self.devices = list(devices)
        self.owner = owner
        self.vg = vg
        self.mountpoint = mountpoint
        self.follow = follow
        self.interval = interval
        self.extents: dict[str, list[Extent]] = {}
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def mapfile(self) -> str:
        return self.mountpoint.rstrip("/") + ".map"

    def __enter__(self) -> LVFiles:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def path(self, lv: str) -> str:
        return os.path.join(self.mountpoint, lv)

    def start(self) -> LVFiles:
        self.extents = extent_map(self.devices, self.vg)
        os.makedirs(self.mountpoint, exist_ok=True)
        write_map(self.mapfile, self.extents)
        # No attribute or entry caching: a grown or new LV shows at once.
        options = "allow_other,attr_timeout=0,entry_timeout=0,negative_timeout=0"
        if self.owner is not None:
            options += f",uid={self.owner[0]},gid={self.owner[1]}"
        self.proc = subprocess.Popen(
            [build(), "-f", "-o", options, self.mapfile, self.mountpoint],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: mounts.find_mount(self.mountpoint) is not None
                 or self.proc.poll() is not None, 10, "the lvfiles mount")
        if self.proc.poll() is not None:
            raise RuntimeError(f"lvfiles failed: {self.proc.stderr.read()!r}")
        if self.follow:
            self._stop.clear()
            self._follower = threading.Thread(
                target=self._follow, name=f"lvfiles-{self.vg[:8]}", daemon=True)
            self._follower.start()
        return self

    def refresh(self) -> None:
        """Load the VG's current LVs into the running mount (open files
        keep working, as after ``lvchange --refresh``)."""
        with self._lock:
            extents = extent_map(self.devices, self.vg)
            if extents != self.extents:
                self.extents = extents
                write_map(self.mapfile, extents)
        self._wait_loaded(extents)

    def _wait_loaded(self, extents: dict[str, list[Extent]]) -> None:
        """Until the daemon serves the new map (it looks every 50 ms)."""
        def loaded() -> bool:
            names = set(os.listdir(self.mountpoint))
            if names != set(extents):
                return False
            return all(os.stat(self.path(name)).st_size == sum(n for _, _, n in parts)
                       for name, parts in extents.items())
        wait_for(loaded, 10, "lvfiles to load its new map")

    def _follow(self) -> None:
        last: list[dict] | None = None
        while not self._stop.wait(self.interval):
            try:
                rows = _lv_rows(self.devices, self.vg)
                if rows != last:
                    last = rows
                    with self._lock:
                        extents = extent_map(self.devices, self.vg)
                        if extents != self.extents:
                            self.extents = extents
                            write_map(self.mapfile, extents)
            except Exception as e:  # a VG being changed or gone: next round
                log.debug("lvfiles follow %s: %s", self.vg, e)

    def stop(self) -> None:
        """Stop following, unmount (lazily if busy), stop the daemon by pid."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(10)
            self._follower = None
        if self.proc is None:
            return
        fusefs.stop_daemon(self.proc, self.mountpoint)
        self.proc = None
