"""Guest agent channels, the serial console and the memory balloon."""

from __future__ import annotations

from typing import Any

from vdsm.virt.domxml.base import Element, element, sub


def channel_element(channel: dict[str, Any], *,
                    path: str | None = None) -> Element:
    """A virtio-serial channel on a Unix socket at ``path`` (libvirt
    picks one when None)."""
    root = element("channel", type="unix")
    if path:
        sub(root, "source", mode="bind", path=path)
    sub(root, "target", type="virtio", name=channel["name"])
    return root


def console_elements(*, log_file: str | None) -> list[Element]:
    """A serial port on a pty (optionally logged to a file) and its console."""
    serial = element("serial", type="pty")
    if log_file:
        sub(serial, "log", file=log_file, append="on")
    sub(serial, "target", port=0)
    console = element("console", type="pty")
    sub(console, "target", type="serial", port=0)
    return [serial, console]


def balloon_element(balloon: dict[str, Any], *, stats_period: int) -> Element:
    model = balloon.get("specParams", {}).get("model", "virtio")
    root = element("memballoon", model=model)
    if model != "none" and stats_period > 0:
        sub(root, "stats", period=stats_period)
    return root
