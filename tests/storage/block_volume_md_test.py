"""vdsm/storage/domains/block/volume_md.py: volume metadata slots of the metadata LV."""

from __future__ import annotations

import os

import pytest

from tests.storage import lvfiles
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.storage.domains.block import volume_md
from vdsm.storage.errors import MetadataOverflowError, MetaDataValidationError
from vdsm.storage.lvm import LVM, LocalRunner

MD = {"CAP": "1073741824", "DOMAIN": "d1", "FORMAT": "RAW", "GEN": "0",
      "IMAGE": "i1", "PUUID": "00000000-0000-0000-0000-000000000000"}
TEXT = (b"CAP=1073741824\nDOMAIN=d1\nFORMAT=RAW\nGEN=0\nIMAGE=i1\n"
        b"PUUID=00000000-0000-0000-0000-000000000000\nEOF\n")


def test_a_block_is_the_meta_lines_padded_with_nuls_to_512():
    block = volume_md.encode(MD)
    assert block == TEXT + b"\0" * (512 - len(TEXT))
    assert volume_md.decode(block) == MD


def test_an_all_nul_block_is_a_free_slot():
    assert volume_md.decode(b"\0" * 512) is None


def test_a_block_without_eof_or_of_the_wrong_size_is_an_error():
    with pytest.raises(MetaDataValidationError):
        volume_md.decode(b"CAP=1\n".ljust(512, b"\0"))
    with pytest.raises(MetaDataValidationError):
        volume_md.decode(TEXT)


def test_metadata_past_one_block_is_refused():
    with pytest.raises(MetadataOverflowError):
        volume_md.encode(dict(MD, DESCRIPTION="x" * 500))


@pytest.mark.parametrize("version,slot,offset", [
    (4, 4, 2048), (4, 2047, 1048064),
    (5, 1, 1048576 + 8192), (5, 2047, 1048576 + 2047 * 8192),
])
def test_slot_offsets(version, slot, offset):
    assert volume_md.slot_offset(slot, version) == offset


@pytest.mark.parametrize("version,slot", [(4, 3), (4, 2048), (5, 0), (5, 2048)])
def test_reserved_and_past_the_area_slots_are_refused(version, slot):
    with pytest.raises(ValueError):
        volume_md.slot_offset(slot, version)


def test_the_v5_area_ends_at_17_mib():
    last = volume_md.max_slots(5) - 1
    assert volume_md.slot_offset(last, 5) + volume_md.V5_SLOT_SIZE == 17 * 1024 * 1024


def test_free_slot_is_the_lowest_gap():
    assert volume_md.free_slot([], 5) == 1
    assert volume_md.free_slot([1, 2, 4], 5) == 3
    assert volume_md.free_slot([4, 5], 4) == 6
    with pytest.raises(MetadataOverflowError):
        volume_md.free_slot(range(1, 2048), 5)


@need_lvm
def test_a_slot_written_through_the_metadata_lv_is_on_the_pv(tmp_path):
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    with loop_devices(1, size_mb=1024) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices)
        lvm.lvcreate(vg, "metadata", 128 * 1024 * 1024)
        with lvfiles.LVFiles(devices, vg, str(tmp_path / "lvs")) as files:
            (dev, lv_start, _), = files.extents["metadata"]
            offset = volume_md.slot_offset(3, 5)
            with open(files.path("metadata"), "r+b") as f:
                os.pwrite(f.fileno(), volume_md.encode(MD), offset)
                os.fsync(f.fileno())
                next_slot = os.pread(f.fileno(), 512, offset + 8192)
                assert volume_md.decode(next_slot) is None
            with open(dev, "rb") as f:
                on_pv = os.pread(f.fileno(), 512, lv_start + offset)
            assert on_pv == volume_md.encode(MD)
