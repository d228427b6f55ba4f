"""Volume metadata made to agree with the chain QEMU uses.

After a live merge the running VM's disk chain has one volume less; the
metadata on the domain still names the old one. :func:`sync_chain` is
the host's side of the classic imageSyncVolumeChain: every volume of the
new chain gets the parent it has in QEMU, the new leaf the LEAF role, and
the volumes left out are marked ILLEGAL for the SPM to delete (an old
leaf becomes INTERNAL, so the image keeps exactly one leaf and stays
preparable). Idempotent: a retry after a crash changes nothing more.

:func:`reconcile` (reconcileVolumeChain) reads the chain with qemu-img
from the prepared leaf and syncs the metadata to it.

:meth:`VolumeChains.set_size` (volumeSetSize) is the same for a size: a
running VM's COW volume grows in QEMU (blockResize), so the host running
it records the new virtual size; 0 while the resize is under way, which
:func:`repair_sizes` fixes from the image itself when it is next prepared
(an agent killed mid-resize leaves no volume with a wrong size).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import (
    ImageIsNotLegalChain,
    InvalidParameterException,
    StorageError,
)
from vdsm.storage.volumes import domain_lock, image_lock

log = logging.getLogger(__name__)

SIZE_ALIGNMENT = 4096   # capacities are kept in whole 4 KiB blocks, as classic
IN_TRANSACTION = 0      # the capacity written while QEMU resizes


class VolumeChains:
    """The verbs' side: the image locked, the domain from the cache."""

    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 prepare: Callable[..., dict[str, Any]]) -> None:
        self.cache = cache
        self.resources = resources
        self.prepare = prepare       # the service's prepare_image

    def sync(self, sd_uuid: str, img_uuid: str, new_chain: list[str]) -> list[str]:
        """The metadata follows a running VM's chain (base first)."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            return sync_chain(self.cache.current(sd_uuid), img_uuid, new_chain)

    def reconcile(self, sd_uuid: str, sp_uuid: str, img_uuid: str,
                  leaf_uuid: str) -> list[str]:
        """reconcileVolumeChain: the chain qemu-img reads from the prepared
        leaf (base first), the metadata made to agree with it. An ILLEGAL
        leaf is one a live merge of the active layer already left (marked
        before its pivot): it is not part of the chain."""
        path = self.prepare(sd_uuid, sp_uuid, img_uuid, leaf_uuid,
                            allow_illegal=True)["path"]
        chain = qemu_chain(path)
        leaf = self.cache.current(sd_uuid).volume(img_uuid, leaf_uuid).metadata()
        if len(chain) > 1 and chain[-1] == leaf_uuid and not leaf.is_legal:
            chain.pop()
        self.sync(sd_uuid, img_uuid, chain)
        return chain

    def set_size(self, sd_uuid: str, img_uuid: str, vol_uuid: str,
                 size: Any) -> int:
        """volumeSetSize: the capacity in the volume's metadata, rounded up
        to 4 KiB (0 marks a resize under way). Any host: the one whose
        QEMU changed the size. The capacity written."""
        capacity = parse_capacity(size)
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            vol = self.cache.current(sd_uuid).volume(img_uuid, vol_uuid)
            md = vol.metadata()
            if md.voltype == image.SHARED:
                raise InvalidParameterException(
                    f"Invalid parameter: volume {vol_uuid} is a template's; "
                    "its size never changes")
            if md.capacity != capacity:
                vol.write_metadata(md.updated(capacity=capacity))
                log.info("volume %s/%s: capacity %d -> %d", img_uuid, vol_uuid,
                         md.capacity, capacity)
        return capacity


def parse_capacity(size: Any) -> int:
    """Bytes from the wire (decimal string or int), rounded up to 4 KiB;
    InvalidParameterException for anything else or a negative size."""
    try:
        value = int(size)
    except (TypeError, ValueError):
        raise InvalidParameterException(
            f"Invalid parameter: newSize {size!r}") from None
    if value < 0:
        raise InvalidParameterException(f"Invalid parameter: newSize {value}")
    return (value + SIZE_ALIGNMENT - 1) // SIZE_ALIGNMENT * SIZE_ALIGNMENT


def repair_sizes(dom: StorageDomain, img_uuid: str,
                 mds: dict[str, VolumeMetadata]) -> list[str]:
    """Volumes of a prepared chain (``mds``: their metadata as prepare read
    it) left with capacity 0 (a resize that never finished) get their
    image's virtual size back. Returns the repaired volumes; one that
    cannot be read is logged and left."""
    repaired = []
    for vol_uuid, md in mds.items():
        if md.capacity != IN_TRANSACTION or md.voltype == image.SHARED:
            continue
        vol = dom.volume(img_uuid, vol_uuid)
        try:
            size = int(qemuimg.info(vol.path)["virtual-size"])
            vol.write_metadata(md.updated(capacity=size))
        except (StorageError, KeyError, TypeError, ValueError) as e:
            log.error("volume %s/%s: capacity 0 left unrepaired: %s", img_uuid,
                      vol_uuid, e)
            continue
        log.warning("volume %s/%s: capacity 0 (an unfinished resize) repaired "
                    "to %d", img_uuid, vol_uuid, size)
        repaired.append(vol_uuid)
    return repaired


def sync_chain(dom: StorageDomain, img_uuid: str, new_chain: list[str]) -> list[str]:
    """Make the metadata of ``img_uuid`` follow ``new_chain`` (volume UUIDs,
    base first). Returns the volumes marked ILLEGAL. Raises
    ImageIsNotLegalChain when ``new_chain`` names an unknown volume."""
    mds = image.volumes_metadata(dom, img_uuid)
    unknown = [v for v in new_chain if v not in mds]
    if not new_chain or unknown:
        raise ImageIsNotLegalChain(
            f"Image {img_uuid}: chain {new_chain} names unknown volumes {unknown}")
    parents = [mds[new_chain[0]].parent] + new_chain[:-1]
    for vol_uuid, parent in zip(new_chain, parents, strict=True):
        role = image.LEAF if vol_uuid == new_chain[-1] else image.INTERNAL
        md = mds[vol_uuid]
        if md.voltype == image.SHARED:
            continue               # a template's volume is never rewritten
        changes: dict[str, str] = {}
        if md.parent != parent:
            changes["parent"] = parent
        if md.voltype != role:
            changes["voltype"] = role
        if changes:
            log.info("volume %s/%s: %s", img_uuid, vol_uuid, changes)
            dom.volume(img_uuid, vol_uuid).update(**changes)
    removed = _removed(mds, img_uuid, new_chain)
    for vol_uuid in removed:
        md = mds[vol_uuid]
        changes = {"legality": sc.ILLEGAL_VOL}
        if md.voltype == image.LEAF:
            changes["voltype"] = image.INTERNAL
        if md.legality != sc.ILLEGAL_VOL or md.voltype == image.LEAF:
            log.info("volume %s/%s left the chain: %s", img_uuid, vol_uuid,
                     changes)
            dom.volume(img_uuid, vol_uuid).update(**changes)
    return removed


def _removed(mds: dict[str, VolumeMetadata], img_uuid: str,
             new_chain: list[str]) -> list[str]:
    """The image's own volumes that are not in ``new_chain`` but were in
    a chain through it (an ancestor or a descendant of its members)."""
    kept = set(new_chain)
    return sorted(u for u, md in mds.items()
                  if u not in kept and md.image == img_uuid
                  and md.voltype != image.SHARED)


def qemu_chain(leaf_path: str) -> list[str]:
    """Volume UUIDs of the chain qemu-img reads from ``leaf_path``, base
    first (the chain's file names; qemuimg.info reads with force-share, so
    a running VM's image is read too)."""
    infos = qemuimg.info(leaf_path, backing_chain=True)
    return [os.path.basename(i["filename"]) for i in reversed(infos)]
