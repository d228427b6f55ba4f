"""tests/storage/lvfiles.py: LVs of a real VG on a loop device served as files.

The bytes of MOUNTPOINT/<lv> must be exactly the LV's extents on the PV,
as device-mapper would map them, so block-domain tests can read and
write the metadata LV and volumes on this kernel.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import pytest

from tests.storage import lvfiles
from tests.storage.helpers import wait_for
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.storage.lvm import LVM, LocalRunner

MIB = 1024 * 1024
EXTENT = 128 * MIB


def test_parse_map_orders_segments_and_converts_extents_to_bytes():
    lvs = [{"lv_name": "a", "seg_start_pe": "1", "seg_pe_ranges": "/dev/loop9:5-6"},
           {"lv_name": "b", "seg_start_pe": "0", "seg_pe_ranges": "/dev/loop8:0-0"},
           {"lv_name": "a", "seg_start_pe": "0", "seg_pe_ranges": "/dev/loop8:2-2"}]
    pvs = [{"pv_name": "/dev/loop8", "pe_start": "1048576"},
           {"pv_name": "/dev/loop9", "pe_start": "2097152"}]
    assert lvfiles.parse_map(lvs, pvs, 4 * MIB) == {
        "a": [("/dev/loop8", 1 * MIB + 8 * MIB, 4 * MIB),
              ("/dev/loop9", 2 * MIB + 20 * MIB, 8 * MIB)],
        "b": [("/dev/loop8", 1 * MIB, 4 * MIB)]}


def test_parse_map_refuses_a_segment_on_an_unknown_pv():
    lvs = [{"lv_name": "a", "seg_start_pe": "0", "seg_pe_ranges": "/dev/sdz:0-0"}]
    with pytest.raises(ValueError):
        lvfiles.parse_map(lvs, [{"pv_name": "/dev/loop8", "pe_start": "0"}], MIB)


@contextlib.contextmanager
def empty_vg() -> Iterator[tuple[LVM, list[str], str]]:
    """A VG on one loop device (skips where lvfiles cannot run)."""
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    with loop_devices(1) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices)
        yield lvm, devices, vg


@pytest.fixture
def lv_files(tmp_path):
    """VG on one loop device: 'a' of two separate extents with 'b' between."""
    with empty_vg() as (lvm, devices, vg):
        lvm.lvcreate(vg, "a", EXTENT)
        lvm.lvcreate(vg, "b", EXTENT)
        lvm.lvextend(vg, "a", 2 * EXTENT)
        files = lvfiles.LVFiles(devices, vg, str(tmp_path / "lvs"))
        try:
            yield files.start()
        finally:
            files.stop()


def pv_read(device: str, offset: int, size: int) -> bytes:
    with open(device, "rb") as f:
        return os.pread(f.fileno(), size, offset)


@need_lvm
def test_extents_are_separate_segments_that_do_not_overlap(lv_files):
    a, b = lv_files.extents["a"], lv_files.extents["b"]
    assert len(a) == 2 and len(b) == 1
    assert [n for _, _, n in a] == [EXTENT, EXTENT]
    ranges = sorted((o, o + n) for _, o, n in a + b)
    pairs = zip(ranges, ranges[1:], strict=False)
    assert all(end <= start for (_, end), (start, _) in pairs)
    assert sorted(os.listdir(lv_files.mountpoint)) == ["a", "b"]
    assert os.path.getsize(lv_files.path("a")) == 2 * EXTENT
    assert os.path.getsize(lv_files.path("b")) == EXTENT


@need_lvm
def test_a_write_across_segments_lands_on_the_pv_at_the_mapped_offsets(lv_files):
    (dev, first, _), (_, second, _) = lv_files.extents["a"]
    data = os.urandom(8192)
    with open(lv_files.path("a"), "r+b") as f:
        assert os.pwrite(f.fileno(), data, EXTENT - 4096) == 8192
        os.fsync(f.fileno())
    assert pv_read(dev, first + EXTENT - 4096, 4096) == data[:4096]
    assert pv_read(dev, second, 4096) == data[4096:]
    (_, b_offset, _), = lv_files.extents["b"]
    assert pv_read(dev, b_offset, 4096) == b"\0" * 4096   # b between them untouched


@need_lvm
def test_a_write_on_the_pv_is_read_through_the_file(lv_files):
    (dev, offset, _), = lv_files.extents["b"]
    with open(dev, "r+b") as f:
        os.pwrite(f.fileno(), b"written on the PV", offset + 512)
    with open(lv_files.path("b"), "rb") as f:
        assert os.pread(f.fileno(), 17, 512) == b"written on the PV"


@need_lvm
def test_files_keep_the_lv_size(lv_files):
    with open(lv_files.path("b"), "r+b") as f:
        with pytest.raises(OSError) as e:
            os.pwrite(f.fileno(), b"x", EXTENT)
        assert e.value.errno == errno.ENOSPC
        with pytest.raises(OSError) as e:
            os.ftruncate(f.fileno(), EXTENT + 1)
        assert e.value.errno == errno.EPERM
        os.ftruncate(f.fileno(), 0)     # qemu-img create does this: a no-op
        assert os.fstat(f.fileno()).st_size == EXTENT
        assert os.pread(f.fileno(), 10, EXTENT - 5) == b"\0" * 5    # short at the end
    with pytest.raises(PermissionError):
        open(os.path.join(lv_files.mountpoint, "c"), "wb")


@need_lvm
def test_refresh_grows_an_open_file_and_shows_new_lvs(lv_files):
    lvm = LVM(LocalRunner())
    lvm.set_devices(lv_files.vg, lv_files.devices)
    with open(lv_files.path("b"), "r+b") as f:
        lvm.lvextend(lv_files.vg, "b", 2 * EXTENT)
        lvm.lvcreate(lv_files.vg, "c", EXTENT)
        lv_files.refresh()
        # The open file now reaches the new extent, as a refreshed dm table.
        os.pwrite(f.fileno(), b"past the old end", EXTENT + 4096)
        assert os.pread(f.fileno(), 16, EXTENT + 4096) == b"past the old end"
    assert os.path.getsize(lv_files.path("b")) == 2 * EXTENT
    assert os.path.getsize(lv_files.path("c")) == EXTENT


@pytest.fixture
def following(tmp_path):
    with empty_vg() as (lvm, devices, vg):
        files = lvfiles.LVFiles(devices, vg, str(tmp_path / "lvs"), follow=True)
        try:
            yield lvm, files.start()
        finally:
            files.stop()


@need_lvm
def test_follow_mode_serves_lvs_as_another_process_changes_them(following):
    lvm, files = following
    assert os.listdir(files.mountpoint) == []
    lvm.lvcreate(files.vg, "vol", EXTENT)
    wait_for(lambda: os.path.exists(files.path("vol")), 10, "the new LV")
    with open(files.path("vol"), "r+b") as f:
        with pytest.raises(OSError) as e:
            os.pwrite(f.fileno(), b"x", EXTENT)
        assert e.value.errno == errno.ENOSPC          # full, as a real LV
        lvm.lvextend(files.vg, "vol", 3 * EXTENT)
        wait_for(lambda: os.lseek(f.fileno(), 0, os.SEEK_END) == 3 * EXTENT, 10,
                 "the LV to grow under the open file")
        os.pwrite(f.fileno(), b"after extend", 2 * EXTENT)
        assert os.pread(f.fileno(), 12, 2 * EXTENT) == b"after extend"
        lvm.lvremove(files.vg, "vol")
        wait_for(lambda: not os.path.exists(files.path("vol")), 10, "the LV to vanish")
        with pytest.raises(OSError) as e:
            os.pread(f.fileno(), 1, 0)
        assert e.value.errno == errno.EIO             # a removed device
