"""vdsm.storage.transfer.target: the largest image a volume may receive
(pure); the LV growth itself is proven on a real block domain in
block_transfer_test.py."""

from __future__ import annotations

import pytest

from vdsm.storage.domains.file.volume import COW, RAW
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import VolumeExtendingError
from vdsm.storage.transfer import target

MiB = 1024 * 1024


def md(fmt: str, capacity: int) -> VolumeMetadata:
    return VolumeMetadata.new(domain="d", image="i", parent="", capacity=capacity,
                              vol_format=fmt, vol_type="SPARSE", disktype="DATA",
                              description="")


def test_raw_holds_its_capacity_cow_ten_percent_more_in_whole_mib() -> None:
    assert target.max_image_size(md(RAW, 64 * MiB)) == 64 * MiB
    assert target.max_image_size(md(COW, 64 * MiB)) == 71 * MiB   # 70.4 up
    assert target.max_image_size(md(COW, 10 * MiB)) == 11 * MiB


class FileVolume:
    vol_uuid = "v"


def test_too_large_refused_before_anything() -> None:
    with pytest.raises(VolumeExtendingError, match="does not fit"):
        target.make_room(FileVolume(), md(RAW, MiB), MiB + 1,  # type: ignore
                         guard=lambda: None)
    target.make_room(FileVolume(), md(RAW, MiB), MiB, guard=lambda: None)  # type: ignore
