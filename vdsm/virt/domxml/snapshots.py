"""``<domainsnapshot>``: an external snapshot onto volumes we prepared.

Every disk of the domain is named: those taking a new layer as
``snapshot='external'`` (libvirt reuses our file, REUSE_EXT), the others
as ``snapshot='no'``, so one call changes the listed disks and only
them. Pure; deterministic output.
"""

from __future__ import annotations

from dataclasses import dataclass

from vdsm.virt.domxml.base import Element, element, sub


@dataclass(frozen=True)
class NewLayer:
    """A disk (target name) and the prepared file/device of its new leaf."""

    name: str
    path: str
    block: bool = False


def element_for(layers: list[NewLayer], others: list[str], *,
                memory_path: str | None = None) -> Element:
    """The snapshot XML; ``memory_path`` saves the memory state there
    (an external memory snapshot), else the snapshot is disk-only."""
    root = element("domainsnapshot")
    disks = sub(root, "disks")
    for layer in layers:
        disk = sub(disks, "disk", name=layer.name, snapshot="external",
                   type="block" if layer.block else "file")
        sub(disk, "source", **({"dev": layer.path} if layer.block
                               else {"file": layer.path}))
        sub(disk, "driver", type="qcow2")
    for name in others:
        sub(disks, "disk", name=name, snapshot="no")
    if memory_path:
        sub(root, "memory", snapshot="external", file=memory_path)
    else:
        sub(root, "memory", snapshot="no")
    return root
