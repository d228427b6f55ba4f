"""Consoles of a running VM: graphics tickets and key presses."""

from __future__ import annotations

import logging
from typing import Any

import libvirt
from lxml import etree

from vdsm.common.errors import HookError, InvalidParameter
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import graphics
from vdsm.virt.errors import SpiceTicketError
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import run_hook, running_domain

log = logging.getLogger(__name__)

CONNECTED_ACTIONS = ("disconnect", "keep", "fail")

# Linux input key codes by the names QEMU's sendkey uses.
_KEYS: dict[str, int] = {"esc": 1, "minus": 12, "equal": 13, "backspace": 14,
                         "tab": 15, "bracket_left": 26, "bracket_right": 27,
                         "ret": 28, "enter": 28, "ctrl": 29, "semicolon": 39,
                         "apostrophe": 40, "grave_accent": 41, "shift": 42,
                         "backslash": 43, "comma": 51, "dot": 52, "slash": 53,
                         "shift_r": 54, "alt": 56, "spc": 57, "space": 57,
                         "caps_lock": 58, "ctrl_r": 97, "alt_r": 100,
                         "home": 102, "up": 103, "pgup": 104, "left": 105,
                         "right": 106, "end": 107, "down": 108, "pgdn": 109,
                         "insert": 110, "delete": 111, "meta_l": 125}
_KEYS.update({str(d): 2 + (d - 1) % 10 for d in range(1, 10)})
_KEYS["0"] = 11
_KEYS.update({c: 16 + i for i, c in enumerate("qwertyuiop")})
_KEYS.update({c: 30 + i for i, c in enumerate("asdfghjkl")})
_KEYS.update({c: 44 + i for i, c in enumerate("zxcvbnm")})
_KEYS.update({f"f{n}": 58 + n for n in range(1, 11)})
_KEYS.update({"f11": 87, "f12": 88})


def key_codes(combination: str) -> list[int]:
    """'ctrl-alt-delete' -> Linux key codes pressed together."""
    codes = []
    for name in combination.lower().split("-"):
        if name not in _KEYS:
            raise InvalidParameter(f"Invalid parameter: unknown key {name!r} in "
                                   f"{combination!r}")
        codes.append(_KEYS[name])
    return codes


def send_keys(ctx: VirtContext, vm: Vm, keys: list[str]) -> None:
    """Each item is one key or a combination (``ctrl-alt-delete``)."""
    combos = [key_codes(k) for k in keys]
    with vm.lock:
        dom = running_domain(ctx, vm)
        for codes in combos:
            dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, 0, codes, len(codes), 0)


def set_ticket(ctx: VirtContext, vm: Vm, password: str, ttl: int,
               existing: str, params: dict[str, Any]) -> None:
    """Set the graphics password, valid ``ttl`` seconds (0: forever)."""
    if existing not in CONNECTED_ACTIONS:
        raise InvalidParameter(f"Invalid parameter: existingConnAction "
                               f"{existing!r}; use one of "
                               f"{', '.join(CONNECTED_ACTIONS)}")
    wanted = params.get("graphicsType")
    with vm.lock:
        dom = running_domain(ctx, vm)
        devices = [d for d in vm.devices if d["type"] == "graphics"
                   and (not wanted or d["device"] == wanted)]
        if not devices:
            raise SpiceTicketError("Error while setting spice ticket: the VM "
                                   "has no graphics device")
        xml = etree.tostring(graphics.ticket(devices[0], password, ttl,
                                             existing), encoding="unicode")
        try:
            xml = run_hook(ctx, vm, "before_vm_set_ticket", xml) or xml
            dom.updateDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as e:
            raise SpiceTicketError(f"Error while setting spice ticket: "
                                   f"{e.get_error_message()}") from None
        try:
            run_hook(ctx, vm, "after_vm_set_ticket", xml)
        except HookError as e:
            log.warning("vm %s: after_vm_set_ticket: %s", vm.id, e.message)
