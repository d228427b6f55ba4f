"""Small helpers shared by the domain XML builders."""

from __future__ import annotations

from typing import Any

from lxml import etree

Element = etree._Element


def sub(parent: Element, tag: str, text: str | None = None,
        **attrs: Any) -> Element:
    """Append a child with string attributes (None values left out)."""
    child = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()
                                           if v is not None})
    if text is not None:
        child.text = str(text)
    return child


def element(tag: str, **attrs: Any) -> Element:
    return etree.Element(tag, {k: str(v) for k, v in attrs.items()
                               if v is not None})


def user_alias(device: dict[str, Any]) -> str | None:
    """libvirt user alias ("ua-" + device id), stable across restarts."""
    device_id = device.get("deviceId")
    return f"ua-{device_id}" if device_id else None


def add_alias(parent: Element, device: dict[str, Any]) -> None:
    alias = user_alias(device)
    if alias:
        sub(parent, "alias", name=alias)


def to_string(root: Element) -> str:
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def from_string(xml: str) -> Element:
    """Parse XML text; raises ValueError on garbage."""
    try:
        return etree.fromstring(xml.encode())
    except etree.XMLSyntaxError as e:
        raise ValueError(f"bad XML: {e}") from None
