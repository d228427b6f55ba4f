"""The ``<disk>`` a block copy writes to (libvirt's blockCopy destination).

Only what libvirt reads for a copy: the source, its type and its format.
The destination volume already exists (the engine made it), so the copy
is asked with REUSE_EXT and libvirt must know its format: without a
``<driver type>`` it would probe the image, which it refuses to do for
a volume it did not create.
"""

from __future__ import annotations

from vdsm.virt.domxml.base import Element, element, sub
from vdsm.virt.domxml.disks import _FORMATS, is_block


def copy_destination(path: str, fmt: str) -> Element:
    """``<disk>`` of the volume at ``path`` in vdsm format ``fmt`` (cow/raw)."""
    block = is_block(path)
    root = element("disk", type="block" if block else "file")
    sub(root, "source", **({"dev": path} if block else {"file": path}))
    sub(root, "driver", type=_FORMATS[fmt])
    return root
