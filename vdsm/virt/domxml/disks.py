"""``<disk>``: drives, CD-ROMs and floppies."""

from __future__ import annotations

from typing import Any

from vdsm.virt.domxml.base import Element, add_alias, element, sub

_FORMATS = {"raw": "raw", "cow": "qcow2"}


def element_for(disk: dict[str, Any], *, with_boot: bool = True) -> Element:
    """The ``<disk>`` of a normalized disk device (see vdsm.virt.devices)."""
    path = disk.get("path") or ""
    block = path.startswith("/dev/")
    root = element("disk", type="block" if block else "file",
                   device=disk["device"], snapshot="no")
    driver = {"name": "qemu", "type": _FORMATS[disk["format"]]}
    if disk["device"] == "disk":
        driver["cache"] = disk.get("cache", "none")
        driver["error_policy"] = ("enospace" if disk["propagateErrors"] == "on"
                                  else "stop")
        driver["io"] = "native" if block else "threads"
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
