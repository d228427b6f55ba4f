"""before/after_device_create: hooks for devices with custom properties.

Each device that carries ``custom`` properties has its own XML (found in
the domain by its user alias) run through ``before_device_create`` before
the VM starts, with those properties in the environment; the edited
element replaces the original. ``after_device_create`` runs once the VM
is up.
"""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree

from vdsm.common.errors import HookError
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml.base import Element, from_string, to_string, user_alias
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)


def _hooked(vm: Vm) -> list[dict[str, Any]]:
    return [d for d in vm.devices if d.get("custom") and d.get("deviceId")]


def _env(vm: Vm, device: dict[str, Any]) -> dict[str, str]:
    """The VM's custom properties, overridden by the device's own."""
    return {**vm.vmdef.custom, **device["custom"]}


def _find(root: Element, device: dict[str, Any]) -> Element | None:
    alias = user_alias(device)
    for node in root.iterfind("devices/*"):
        found = node.find("alias")
        if found is not None and found.get("name") == alias:
            return node
    return None


def before_create(ctx: VirtContext, vm: Vm, xml: str) -> str:
    """The domain XML with each hooked device as its hooks left it.

    Raises HookError (a failed before hook stops the start)."""
    devices = _hooked(vm)
    if not devices:
        return xml
    root = from_string(xml)
    for device in devices:
        node = _find(root, device)
        if node is None:
            continue
        text = etree.tostring(node, encoding="unicode")
        edited = ctx.hooks.before_device_create(text, custom=_env(vm, device),
                                                vm_id=vm.id)
        if edited and edited != text:
            node.getparent().replace(node, from_string(edited))
    return to_string(root)


def after_create(ctx: VirtContext, vm: Vm) -> None:
    devices = _hooked(vm)
    if not devices or not vm.live.get("xml"):
        return
    root = from_string(vm.live["xml"])
    for device in devices:
        node = _find(root, device)
        if node is None:
            continue
        try:
            ctx.hooks.after_device_create(
                etree.tostring(node, encoding="unicode"),
                custom=_env(vm, device), vm_id=vm.id)
        except HookError as e:
            log.warning("vm %s: after_device_create: %s", vm.id, e.message)
