"""``<graphics>`` (VNC, SPICE) and ``<video>``, and ticket updates."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from vdsm.virt.domxml.base import Element, add_alias, element, sub

# Nobody can connect before the engine sets a ticket (setVmTicket).
LOCKED_UNTIL = "1970-01-01T00:00:01"
_VIDEO = {"vga": {"vram": 16384}, "cirrus": {"vram": 16384},
          "qxl": {"ram": 65536, "vram": 32768, "vgamem": 16384},
          "virtio": {}}


def element_for(graphics: dict[str, Any], *, password: str | None = None,
                valid_to: str = LOCKED_UNTIL,
                connected: str | None = None) -> Element:
    """``password`` None: a random one that expired long ago."""
    port = graphics["port"]
    attrs: dict[str, Any] = {
        "type": graphics["device"],
        "port": port,
        "autoport": "yes" if port == -1 else "no",
    }
    if graphics["device"] == "spice":
        attrs["tlsPort"] = graphics.get("tlsPort", -1)
    # VNC passwords have at most 8 characters.
    attrs["passwd"] = password if password is not None else secrets.token_hex(4)
    attrs["passwdValidTo"] = valid_to
    if graphics.get("keyMap"):
        attrs["keymap"] = graphics["keyMap"]
    if connected and graphics["device"] == "spice":
        attrs["connected"] = connected  # VNC knows only "keep"
    root = element("graphics", **attrs)
    sub(root, "listen", type="address", address=graphics["listen"])
    return root


def ticket(graphics: dict[str, Any], password: str, ttl: int,
           existing: str) -> Element:
    """The ``<graphics>`` update for setVmTicket.

    The ports stay as defined (libvirt refuses port changes, even to the
    ones it allocated).
    ``ttl`` seconds of validity (0: no expiry); ``existing`` is what
    happens to connected clients (disconnect, keep or fail; SPICE only).
    """
    current = dict(graphics)
    valid_to = None
    if ttl > 0:
        until = datetime.datetime.now(datetime.UTC) + \
            datetime.timedelta(seconds=ttl)
        valid_to = until.strftime("%Y-%m-%dT%H:%M:%S")
    root = element_for(current, password=password,
                       valid_to=valid_to or "", connected=existing)
    if valid_to is None:
        del root.attrib["passwdValidTo"]
    return root


def video_element(video: dict[str, Any]) -> Element:
    model = video.get("device", "vga")
    root = element("video")
    sub(root, "model", type=model, heads=1, **_VIDEO.get(model, {}))
    add_alias(root, video)
    return root
