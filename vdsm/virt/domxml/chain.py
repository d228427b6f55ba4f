"""A disk's backing chain as libvirt shows it in the live domain XML.

After a block commit or a pivot the live XML is the truth about which
files QEMU uses; a merge reads it before and after to know what changed.
"""

from __future__ import annotations

from vdsm.virt.domxml.base import Element, from_string


def disk_chain(xml: str | Element, target: str) -> list[str]:
    """Paths of disk ``target``'s chain, leaf first ([] when no such
    disk). libvirt nests ``<backingStore>`` elements, the last one empty."""
    return [path for path, _ in disk_layers(xml, target)]


def disk_layers(xml: str | Element, target: str) -> list[tuple[str, str]]:
    """(path, format) of each layer of disk ``target``'s chain, leaf first
    (format "" where libvirt names none): the leaf's format is its
    ``<driver type>``, a backing layer's its ``<format type>``."""
    root = from_string(xml) if isinstance(xml, str) else xml
    for node in root.iterfind("devices/disk"):
        tgt = node.find("target")
        if tgt is None or tgt.get("dev") != target:
            continue
        layers = []
        current: Element | None = node
        while current is not None:
            source = current.find("source")
            if source is None:
                break
            path = source.get("file") or source.get("dev")
            if not path:
                break
            fmt = current.find("driver" if current is node else "format")
            layers.append((path, (fmt.get("type") or "") if fmt is not None else ""))
            current = current.find("backingStore")
        return layers
    return []
