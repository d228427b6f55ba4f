"""Drive paths: checked, or resolved through the storage subsystem.

A drive given by ``path`` must exist when the VM is created (else
ImageFileNotFound and no VM). A drive given as ``{domainID, poolID,
imageID, volumeID}`` is resolved by a :class:`DriveResolver`, which the
storage subsystem provides once it exists; without one such drives are
refused. This module is the only seam between virt and storage.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from vdsm.virt.devices import VOLUME_KEYS
from vdsm.virt.errors import ImageFileNotFound

log = logging.getLogger(__name__)


class DriveResolver(Protocol):
    """What the storage subsystem offers virt (see the lead's notes)."""

    def prepare(self, drive: dict[str, Any]) -> str:
        """Activate the volume; return the path QEMU opens."""

    def teardown(self, drive: dict[str, Any]) -> None:
        """Release what prepare() activated; must not raise for a gone VM."""


def is_volume(drive: dict[str, Any]) -> bool:
    return all(drive.get(k) for k in VOLUME_KEYS)


def find_disk(devices: list[dict[str, Any]], *, domain: Any, image: Any,
              volume: Any = None, name: Any = None) -> dict[str, Any] | None:
    """The VM's volume disk on ``image`` of ``domain`` (and on ``volume``,
    named ``name``, when given); None when it has none. The one lookup the
    disk verbs (snapshot, merge, replication, resize) share: each answers
    a missing disk with its own classic error."""
    for dev in devices:
        if dev.get("type") != "disk" or not is_volume(dev) or not dev.get("name"):
            continue
        if (dev.get("domainID"), dev.get("imageID")) != (domain, image):
            continue
        if volume is not None and dev.get("volumeID") != volume:
            continue
        if name and dev.get("name") != name:
            continue
        return dev
    return None


def check_paths(devices: list[dict[str, Any]], *,
                resolver: DriveResolver | None) -> None:
    """Raise ImageFileNotFound for a path drive whose file is missing."""
    for dev in devices:
        if dev["type"] != "disk":
            continue
        if is_volume(dev):
            if resolver is None:
                raise ImageFileNotFound(
                    "Drive image file could not be found: volume drives need "
                    "the storage subsystem, which this agent does not run")
            continue
        path = dev.get("path")
        if path and not os.path.exists(path):
            raise ImageFileNotFound(
                f"Drive image file could not be found: {path}")


def prepare(devices: list[dict[str, Any]], *,
            resolver: DriveResolver | None) -> None:
    """Resolve every volume drive to its path (all or nothing)."""
    done: list[dict[str, Any]] = []
    try:
        for dev in devices:
            if dev["type"] == "disk" and is_volume(dev):
                if resolver is None:
                    raise ImageFileNotFound("no storage subsystem to resolve "
                                            "volume drives")
                dev["path"] = resolver.prepare(dev)
                done.append(dev)
    except Exception:
        teardown(done, resolver=resolver)
        raise


def teardown(devices: list[dict[str, Any]], *,
             resolver: DriveResolver | None) -> None:
    """Best effort: a failing teardown is logged, the rest still run."""
    if resolver is None:
        return
    for dev in devices:
        if dev["type"] == "disk" and is_volume(dev):
            try:
                resolver.teardown(dev)
            except Exception:
                log.exception("teardown of volume %s failed", dev.get("volumeID"))


def resolve_spec(spec: Any, *, resolver: DriveResolver | None,
                 must_exist: bool = True) -> tuple[str, dict[str, Any] | None]:
    """A path from a driveSpec (a path string, ``{'path': ...}`` or a
    volume struct). Returns (path, volume-or-None)."""
    if isinstance(spec, dict) and is_volume(spec):
        if resolver is None:
            raise ImageFileNotFound("volume drives need the storage subsystem")
        return resolver.prepare(spec), spec
    path = spec.get("path", "") if isinstance(spec, dict) else str(spec or "")
    if path and must_exist and not os.path.exists(path):
        raise ImageFileNotFound(f"Drive image file could not be found: {path}")
    return path, None
