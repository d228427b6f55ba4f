"""The XML a saved memory state is restored with: its disks and our
metadata as the VM being created says, not as they were when saved.

A hibernated VM comes back on the drives it left, but a memory snapshot
is restored onto other volumes (the engine makes a new leaf on top of
the volume the snapshot left), so each disk's source is set from the
prepared drive of the same target (its saved ``<backingStore>`` chain
dropped: it was the old leaf's), and the metadata recovery reads is the
new VM's. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from vdsm.virt.domxml import metadata
from vdsm.virt.domxml.base import from_string


def for_vm(xml: str, devices: list[dict[str, Any]], conf: dict[str, Any], *,
           start_time: float) -> str:
    """``xml`` with the disk sources of ``devices`` and ``conf`` as the
    metadata; ``xml`` itself when nothing differs."""
    root = from_string(xml)
    changed = False
    paths = {d["name"]: d["path"] for d in devices
             if d["type"] == "disk" and d.get("name") and d.get("path")}
    for disk in root.iterfind("devices/disk"):
        target, source = disk.find("target"), disk.find("source")
        name = target.get("dev") if target is not None else None
        if name not in paths or source is None:
            continue
        attr = "dev" if source.get("dev") is not None else "file"
        if source.get(attr) != paths[name]:
            source.set(attr, paths[name])
            # the saved chain is the old leaf's: libvirt reads the new one
            # from the image headers when none is given
            for backing in disk.findall("backingStore"):
                disk.remove(backing)
            changed = True
    saved = metadata.read(xml)
    if saved is not None and json.dumps(saved["conf"], sort_keys=True) != \
            json.dumps(conf, sort_keys=True):
        holder = root.find("metadata")
        old = holder.find(f"{{{metadata.NAMESPACE}}}vm")
        holder.replace(old, metadata.element_for(conf, start_time=start_time))
        changed = True
    return etree.tostring(root, encoding="unicode") if changed else xml
