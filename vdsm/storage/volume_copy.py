"""One volume copied to another domain: the one copy path of
cloneImageStructure, syncImageData, moveImage and moveMultipleImages.

A destination volume is made ILLEGAL (same UUID, format, capacity and
parent as its source, its data sized with ``qemu-img measure`` so a block
domain's LV is big enough), filled by ``qemu-img convert`` in a helper
process, and made LEGAL only after the copy ended. A sync starts each
volume from an empty target again (a qcow2 header written anew), so a
copy cut off earlier leaves nothing behind that the retry would keep.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg, qemuimg_copy
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.file.volume import qemu_format
from vdsm.storage.domains.volume import Volume, VolumeMetadata
from vdsm.storage.errors import CopyImageError

log = logging.getLogger(__name__)

COW = sc.VOL_FORMATS[sc.COW_FORMAT]


@contextlib.contextmanager
def prepared(vol: Volume) -> Iterator[None]:
    """The volume (and its chain) usable on this host for the copy: a
    block volume's LVs active, as on any host qemu-img runs on."""
    vol.prepare()
    try:
        yield
    finally:
        vol.teardown()


def create_target(src: Volume, dst_dom: StorageDomain, img_uuid: str, *,
                  fresh_parent: bool = False) -> Volume:
    """The empty, ILLEGAL copy of ``src`` on ``dst_dom`` (its parent must be
    there already; ``fresh_parent``: made by this caller just before, so
    not read again). Raises CopyImageError, create_data's errors."""
    md = src.metadata()
    dst = dst_dom.new_volume(img_uuid, src.vol_uuid)
    dst_md = md.updated(domain=dst_dom.sd_uuid, legality=sc.ILLEGAL_VOL)
    dst.write_metadata(dst_md)
    parent = dst_dom.volume(img_uuid, md.parent) if md.has_parent else None
    preallocate = md.type == sc.VOL_TYPES[sc.PREALLOCATED_VOL]
    initial = None
    try:
        if md.format == COW and dst.needs_initial_size:
            with prepared(src):
                initial = qemuimg.measure(src.path, src_format=qemuimg.QCOW2,
                                          dst_format=qemuimg.QCOW2)
        dst.create_data(dst_md, parent=parent, preallocate=preallocate,
                        initial_size=initial, check_parent=not fresh_parent)
    except qemuimg.QemuImgError as e:
        raise CopyImageError(f"Cannot create {src.vol_uuid} on "
                             f"{dst_dom.sd_uuid}: {e.message}") from None
    dst.create_lease()
    return dst


class VolumeCopier:
    """Copies one volume's data; ``bandwidth_mib`` limits each copy."""

    def __init__(self, *, bandwidth_mib: float = 0.0) -> None:
        self.rate = qemuimg_copy.rate_limit(bandwidth_mib)

    def copy(self, src: Volume, dst: Volume, *, parent_format: str | None,
             progress: Callable[[float], None] | None = None,
             aborting: Callable[[], bool] = lambda: False) -> None:
        """Fill ILLEGAL ``dst`` from ``src``, marking it ILLEGAL first (a
        retry), LEGAL last; ``parent_format`` is the parent's qemu format
        (None for a base). Raises CopyImageError."""
        md = src.metadata()
        dst_md = dst.metadata()
        dst.update(legality=sc.ILLEGAL_VOL)
        backing = md.parent if md.has_parent else None
        fmt = qemu_format(md.format)
        try:
            with prepared(src), prepared(dst):
                if dst_md.format == COW:
                    _empty_qcow2(dst, dst_md, backing, parent_format)
                argv = qemuimg_copy.convert_argv(
                    src.path, dst.path, src_format=fmt,
                    dst_format=qemu_format(dst_md.format), backing=backing,
                    rate=self.rate)
                qemuimg_copy.run_convert(argv, cwd=os.path.dirname(src.path),
                                         progress=progress, aborting=aborting)
        except qemuimg.QemuImgError as e:
            raise CopyImageError(f"low level Image copy failed: {e.message}") \
                from None
        dst.update(legality=md.legality)
        log.info("copied volume %s/%s to %s", src.sd_uuid, src.vol_uuid,
                 dst.sd_uuid)


def _empty_qcow2(dst: Volume, md: VolumeMetadata, backing: str | None,
                 backing_format: str | None) -> None:
    """A fresh qcow2 header on the target, all clusters unallocated."""
    qemuimg.create(dst.path, size=md.capacity, fmt=qemuimg.QCOW2,
                   backing=backing, backing_format=backing_format,
                   cwd=os.path.dirname(dst.path))


def same_data(src: Volume, dst: Volume) -> bool:
    """What the two volumes read through their chains is equal (qemu-img
    compare). Raises QemuImgError when they cannot be compared."""
    with prepared(src), prepared(dst):
        return qemuimg_copy.compare(
            src.path, dst.path,
            first_format=qemu_format(src.metadata().format),
            second_format=qemu_format(dst.metadata().format))
