"""``<interface>``: NICs on a bridge or a libvirt network."""

from __future__ import annotations

from typing import Any

from vdsm.virt.domxml.base import Element, add_alias, element, sub


def element_for(nic: dict[str, Any]) -> Element:
    kind = nic["device"]
    root = element("interface", type=kind)
    sub(root, "mac", address=nic["macAddr"])
    if kind == "network":
        sub(root, "source", network=nic["network"])
    else:
        sub(root, "source", bridge=nic["network"])
    sub(root, "model", type=nic["nicModel"])
    if "linkActive" in nic:
        sub(root, "link", state="up" if nic["linkActive"] else "down")
    if nic.get("bootOrder"):
        sub(root, "boot", order=nic["bootOrder"])
    add_alias(root, nic)
    return root
