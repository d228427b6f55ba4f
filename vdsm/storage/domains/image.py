"""Images as chains of volumes: walking, checking, preparing (read only).

An image is the set of volumes sharing an image UUID; each volume names
its parent (PUUID), the base has the blank UUID (or a template shared from
another image), and exactly one volume is the LEAF a VM writes to.
"""

from __future__ import annotations

import os
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import (
    ImageDoesNotExistInSD,
    ImageIsNotLegalChain,
    PrepareIllegalVolumeError,
    VolumeDoesNotExist,
)

LEAF = sc.VOL_ROLES[sc.LEAF_VOL]
INTERNAL = sc.VOL_ROLES[sc.INTERNAL_VOL]
SHARED = sc.VOL_ROLES[sc.SHARED_VOL]


def volumes_metadata(dom: StorageDomain, img_uuid: str) -> dict[str, VolumeMetadata]:
    """Metadata of every volume of an image (ImageDoesNotExistInSD if none)."""
    result = {}
    for vol_uuid in dom.volumes(img_uuid):
        try:
            result[vol_uuid] = dom.volume(img_uuid, vol_uuid).metadata()
        except VolumeDoesNotExist:
            continue  # removed meanwhile
    if not result:
        raise ImageDoesNotExistInSD(
            f"Image {img_uuid} does not exist in domain {dom.sd_uuid}",
            image=img_uuid)
    return result


def children(mds: dict[str, VolumeMetadata], vol_uuid: str) -> list[str]:
    return sorted(u for u, md in mds.items() if md.parent == vol_uuid)


def chain(dom: StorageDomain, img_uuid: str, leaf_uuid: str | None = None) -> list[str]:
    """Volume UUIDs from the base to ``leaf_uuid`` (default: the leaf).

    Raises ImageIsNotLegalChain for a broken chain (several leaves, a
    missing parent, a cycle).
    """
    mds = volumes_metadata(dom, img_uuid)
    if leaf_uuid is None:
        leaves = [u for u, md in mds.items() if md.voltype == LEAF]
        if len(leaves) != 1:
            raise ImageIsNotLegalChain(
                f"Image {img_uuid} has {len(leaves)} leaf volumes: {leaves}")
        leaf_uuid = leaves[0]
    if leaf_uuid not in mds:
        raise VolumeDoesNotExist(f"Volume does not exist: {leaf_uuid}")
    result = [leaf_uuid]
    while mds[result[-1]].has_parent:
        parent = mds[result[-1]].parent
        if parent not in mds or parent in result:
            raise ImageIsNotLegalChain(
                f"Image {img_uuid}: volume {result[-1]} has a missing or "
                f"looping parent {parent}")
        result.append(parent)
    return list(reversed(result))


def prepare(dom: StorageDomain, img_uuid: str, leaf_uuid: str | None, *,
            run_path: str | None, allow_illegal: bool = False
            ) -> tuple[dict[str, Any], dict[str, VolumeMetadata]]:
    """prepareImage: the leaf's path, its info, and every volume of the
    chain; with the chain's metadata as read (for the caller's checks).

    The leaf is prepared with its chain (block volumes are activated;
    teardown() undoes it); ``run_path`` is the image directory as
    VMs see it (through the pool's links) when a pool is given.
    """
    vols = chain(dom, img_uuid, leaf_uuid)
    mds = {u: dom.volume(img_uuid, u).metadata() for u in vols}
    for vol_uuid, md in mds.items():
        if not md.is_legal and not allow_illegal:
            raise PrepareIllegalVolumeError(
                f"Cannot prepare illegal volume {vol_uuid}", volume=vol_uuid)
    image_dir = run_path or dom.image_path(img_uuid)
    leaf = vols[-1]
    volumes_info = []
    for vol_uuid in vols:
        lease_path, lease_offset = dom.volume(img_uuid, vol_uuid).lease
        volumes_info.append({
            "domainID": dom.sd_uuid, "imageID": img_uuid, "volumeID": vol_uuid,
            "path": os.path.join(image_dir, vol_uuid),
            "leasePath": lease_path, "leaseOffset": lease_offset,
        })
    path = os.path.join(image_dir, leaf)
    dom.link_image(img_uuid, vols)
    dom.volume(img_uuid, leaf).prepare()    # the whole chain, last
    return ({"path": path, "info": {"type": "file", "path": path, "volType": "path"},
             "imgVolumesInfo": volumes_info, "chain": vols}, mds)
