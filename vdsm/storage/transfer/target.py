"""The volume a download writes into: is the image allowed, and room for it.

A download learns the image's size from the server's answer
(Content-Length, or the total of Content-Range) before writing a byte.
The image must fit the volume's capacity: a RAW volume holds at most its
virtual size, a qcow2 volume at most its virtual size plus qcow2 overhead
(the classic agent's bound for a COW LV, ``capacity * 1.1``); a larger
image is refused with VolumeExtendingError and nothing is written.

A file volume then grows as it is written. A block volume's LV must be
large enough first: as the classic agent did before a download, the SPM
(a download is an SPM task) extends the LV to the image's size in whole
extents through the same path as extendVolumeSize, and this host waits
until the LV's path shows the new size. An LV is never shrunk.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage.domains.block.volume import (
    MIB,
    QCOW_OVERHEAD_FACTOR,
    BlockVolume,
    round_up,
)
from vdsm.storage.domains.file.volume import RAW
from vdsm.storage.domains.volume import Volume, VolumeMetadata
from vdsm.storage.errors import VolumeExtendingError

log = logging.getLogger(__name__)


def max_image_size(md: VolumeMetadata) -> int:
    """The largest image a volume of ``md`` may receive, in bytes."""
    if md.format == RAW:
        return md.capacity
    return round_up(int(md.capacity * QCOW_OVERHEAD_FACTOR), MIB)


def is_device(vol: Volume) -> bool:
    """True when the volume is an LV (never truncated, sized by the SPM)."""
    return isinstance(vol, BlockVolume)


def make_room(vol: Volume, md: VolumeMetadata, size: int, *,
              guard: Callable[[], None]) -> None:
    """Check an image of ``size`` bytes may go into ``vol`` and, for a
    block volume, extend its LV to hold it (``guard``: the SPM check,
    run before the change).

    Raises VolumeExtendingError (larger than the capacity allows), the
    LV extension's errors (VolumeGroupSizeError: the VG is full,
    LogicalVolumeExtendError) and LogicalVolumeRefreshError (the path
    never showed the new size)."""
    limit = max_image_size(md)
    if size > limit:
        raise VolumeExtendingError(
            f"Error extending volume: an image of {size} bytes does not fit "
            f"volume {vol.vol_uuid} (capacity {md.capacity}, at most {limit} "
            f"bytes)")
    if not isinstance(vol, BlockVolume):
        return
    guard()
    before = vol.size()["apparentsize"]
    after = vol.extend_lv(size)
    if after != before:
        vol.refresh()
    log.info("download into %s/%s: %d bytes, LV %d -> %d bytes", vol.sd_uuid,
             vol.vol_uuid, size, before, after)


def holds_image(vol: Volume, size: int) -> bool:
    """After the download: a file is exactly the image, an LV at least."""
    on_disk = vol.size()["apparentsize"]
    return on_disk >= size if is_device(vol) else on_disk == size
