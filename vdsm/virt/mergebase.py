"""Room in a thin block base before a live merge commits into it.

A qcow2 base on a block domain lives in an LV sized for what it holds;
a block commit copies the top layers' data into it, and QEMU cannot grow
an LV: the commit would fail with ENOSPC (or pause the guest) half way.
So before :func:`vdsm.virt.livemerge.merge` starts the commit, the base
is extended (through the same extender as the volume monitor's, i.e. the
SPM) to its size plus the top layers' LV sizes (an upper bound of the
data they hold), plus one chunk for what the guest writes during an
active commit; never past the base's largest useful size. The classic
agent extends the base the same way before it commits.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vdsm.virt import thinprov as tp
from vdsm.virt.domxml.base import Element
from vdsm.virt.domxml.chain import disk_layers
from vdsm.virt.errors import MergeFailed
from vdsm.virt.replication import virtual_size

log = logging.getLogger(__name__)

EXTEND_TIMEOUT = 120.0    # seconds for the SPM's extension (a mailbox trip)
QCOW2 = "qcow2"


def chain_formats(xml: str | Element, target: str) -> list[str]:
    """Formats of disk ``target``'s chain, leaf first (as disk_chain's
    paths; "" where libvirt names none)."""
    return [fmt for _, fmt in disk_layers(xml, target)]


def needed_size(*, base_size: int, top_sizes: list[int], capacity: int,
                margin: int) -> int:
    """What the base's LV must hold for the commit: its data, every
    committed layer's LV and ``margin``, at most its largest useful size
    (and never less than it has)."""
    wanted = base_size + sum(top_sizes) + margin
    return max(base_size, min(wanted, tp.max_size(capacity)))


def plan(dev: dict[str, Any], xml: str, paths: list[str], chain: list[str],
         base: str, top: str, *, active: bool,
         chunk: int) -> tp.ExtendRequest | None:
    """The extension the base needs before ``top`` is committed into it;
    None for a base that is not a qcow2 on a block volume, or has room.
    Raises MergeFailed when a layer's size cannot be read."""
    if dev.get("diskType") != "block" and not tp.is_block_device(
            paths[chain.index(base)]):
        return None
    formats = chain_formats(xml, dev["name"])
    at = chain.index(base)
    if at >= len(formats) or formats[at] != QCOW2:
        return None
    try:
        base_size = tp.read_size(paths[at])
        top_sizes = [tp.read_size(p) for p in paths[chain.index(top):at]]
        capacity = virtual_size(paths[at], "cow")    # the qcow2 header's
    except (OSError, ValueError) as e:
        raise MergeFailed(f"Merge failed: sizes of the chain of "
                          f"{dev['name']}: {e}") from None
    size = needed_size(base_size=base_size, top_sizes=top_sizes,
                       capacity=capacity, margin=chunk if active else 0)
    if size <= base_size:
        return None
    return tp.ExtendRequest(dev["domainID"], dev.get("poolID", ""),
                            dev["imageID"], base, size)


def extend(extender: tp.Extender | None, request: tp.ExtendRequest, *,
           timeout: float = EXTEND_TIMEOUT) -> None:
    """Ask the extension and wait for it; MergeFailed when there is no
    extender, it fails, or it takes longer than ``timeout``."""
    if extender is None:
        raise MergeFailed(f"Merge failed: base volume {request.vol_uuid} must "
                          f"grow to {request.size} bytes and this host has no "
                          "volume extender")
    done = threading.Event()
    errors: list[BaseException | None] = []

    def callback(error: BaseException | None) -> None:
        errors.append(error)
        done.set()
    log.info("extending base volume %s to %d bytes before the merge",
             request.vol_uuid, request.size)
    try:
        extender.extend(request, callback)
    except Exception as e:
        raise MergeFailed(f"Merge failed: extending base volume "
                          f"{request.vol_uuid}: {e}") from None
    if not done.wait(timeout):
        raise MergeFailed(f"Merge failed: base volume {request.vol_uuid} not "
                          f"extended within {timeout:.0f} s")
    if errors[0] is not None:
        raise MergeFailed(f"Merge failed: extending base volume "
                          f"{request.vol_uuid}: {errors[0]}")
