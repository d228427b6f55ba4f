"""Reading the live domain XML back: what libvirt allocated and attached.

The device list is the truth after hotplug, media changes and recovery;
these readers give the facts the agent reports (ports, target names,
host-side NIC names, media paths).
"""

from __future__ import annotations

from typing import Any

from vdsm.virt.domxml.base import Element, from_string


def _alias(node: Element) -> str | None:
    alias = node.find("alias")
    return alias.get("name") if alias is not None else None


def disks(xml: str | Element) -> list[dict[str, Any]]:
    root = from_string(xml) if isinstance(xml, str) else xml
    result = []
    for node in root.iterfind("devices/disk"):
        source = node.find("source")
        target = node.find("target")
        path = ""
        if source is not None:
            path = source.get("file") or source.get("dev") or ""
        result.append({
            "device": node.get("device"), "path": path,
            "name": target.get("dev") if target is not None else None,
            "iface": target.get("bus") if target is not None else None,
            "alias": _alias(node),
            "readonly": node.find("readonly") is not None})
    return result


def interfaces(xml: str | Element) -> list[dict[str, Any]]:
    root = from_string(xml) if isinstance(xml, str) else xml
    result = []
    for node in root.iterfind("devices/interface"):
        mac = node.find("mac")
        target = node.find("target")
        source = node.find("source")
        model = node.find("model")
        result.append({
            "macAddr": mac.get("address") if mac is not None else None,
            "name": target.get("dev") if target is not None else None,
            "network": (source.get("bridge") or source.get("network"))
            if source is not None else None,
            "nicModel": model.get("type") if model is not None else None,
            "alias": _alias(node)})
    return result


def graphics(xml: str | Element) -> list[dict[str, Any]]:
    root = from_string(xml) if isinstance(xml, str) else xml
    result = []
    for node in root.iterfind("devices/graphics"):
        listen = node.find("listen")
        result.append({
            "type": node.get("type"),
            "port": int(node.get("port", "-1")),
            "tlsPort": int(node.get("tlsPort", "-1")),
            "listen": listen.get("address") if listen is not None
            else node.get("listen")})
    return result


def agent_connected(xml: str | Element, name: str) -> bool:
    """Whether libvirt sees the guest side of channel ``name`` open."""
    root = from_string(xml) if isinstance(xml, str) else xml
    for target in root.iterfind("devices/channel/target"):
        if target.get("name") == name:
            return target.get("state") == "connected"
    return False


def channel_path(xml: str | Element, name: str) -> str | None:
    """The host-side Unix socket of channel ``name``, if it has one."""
    root = from_string(xml) if isinstance(xml, str) else xml
    for node in root.iterfind("devices/channel"):
        target, source = node.find("target"), node.find("source")
        if target is not None and target.get("name") == name \
                and source is not None and node.get("type") == "unix":
            return source.get("path")
    return None
