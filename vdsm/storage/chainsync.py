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
"""

from __future__ import annotations

import logging
import os

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage.domains import image
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import ImageIsNotLegalChain

log = logging.getLogger(__name__)


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
