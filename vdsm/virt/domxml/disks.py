"""``<disk>``: drives, CD-ROMs and floppies."""

from __future__ import annotations

import os
import stat
from typing import Any

from vdsm.virt.domxml.base import Element, add_alias, element, sub

_FORMATS = {"raw": "raw", "cow": "qcow2"}


def element_for(disk: dict[str, Any], *, with_boot: bool = True) -> Element:
    """The ``<disk>`` of a normalized disk device (see vdsm.virt.devices)."""
    path = disk.get("path") or ""
    block = is_block(path)
    root = element("disk", type="block" if block else "file",
                   device=disk["device"], snapshot="no")
    driver = {"name": "qemu", "type": _FORMATS[disk["format"]]}
    if disk["device"] == "disk":
        driver["cache"] = disk.get("cache", "none")
        driver["error_policy"] = ("enospace" if disk["propagateErrors"] == "on"
                                  else "stop")
        driver["io"] = "native" if block else "threads"
        if disk.get("discard"):
            driver["discard"] = "unmap"
    sub(root, "driver", **driver)
    if path:
        sub(root, "source", **({"dev": path} if block else {"file": path}))
    sub(root, "target", dev=disk["name"], bus=disk["iface"])
    if disk.get("serial"):
        sub(root, "serial", disk["serial"])
    if with_boot and disk.get("bootOrder"):
        sub(root, "boot", order=disk["bootOrder"])
    if disk.get("readonly"):
        sub(root, "readonly")
    add_alias(root, disk)
    return root


def media_change(disk: dict[str, Any], path: str) -> Element:
    """A CD-ROM/floppy ``<disk>`` with new media (``''`` ejects)."""
    changed = dict(disk, path=path)
    return element_for(changed, with_boot=False)


def is_block(path: str) -> bool:
    """Block source for a block device; a file source for anything else
    that exists (e.g. a test's file standing in for an LV), whatever the
    wire's diskType says; by the name for a path not there (yet)."""
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return path.startswith("/dev/")
