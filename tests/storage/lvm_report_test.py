"""LVM reports parsed from recorded real output.

Recorded with lvm2 2.03.16 (Debian 12) on two 2 GiB loop devices
(tests/storage/data/lvm_*.json): a VG over both PVs with two tags, an LV
with tags, and an LV of 20 extents spanning both PVs (two segments). The
attr state is 'X' (unknown) because this kernel has no device-mapper.
"""

from __future__ import annotations

import os

import pytest

from tests.storage.helpers import HERE
from vdsm.storage import lvm_report
from vdsm.storage.lvm_report import LV

DATA = os.path.join(HERE, "data")
GIB = 1024 ** 3
EXTENT = 128 * 1024 ** 2


def rows(kind: str) -> list[dict[str, str]]:
    with open(os.path.join(DATA, f"lvm_{kind}s.json")) as f:
        return lvm_report.rows(f.read(), kind)


def test_pvs():
    pvs = lvm_report.parse_pvs(rows("pv"))
    assert [pv.name for pv in pvs] == ["/dev/loop0", "/dev/loop1"]
    pv = pvs[0]
    assert pv.vg_name == "vg-rec"
    assert pv.dev_size == 2 * GIB
    assert pv.size == 13 * EXTENT and pv.pe_count == 13
    assert pv.pe_alloc_count == 9 and pv.free == 4 * EXTENT
    # two 128 MiB metadata areas (start and end of the device)
    assert (pv.mda_count, pv.mda_used_count, pv.mda_size) == (2, 2, EXTENT)
    assert 0 < pv.mda_free < pv.mda_size
    assert pv.pe_start > pv.mda_size
    assert pvs[1].free == 0


def test_vgs_rows_of_one_vg_merged():
    vgs = lvm_report.parse_vgs(rows("vg"))
    assert len(vgs) == 1
    vg = vgs[0]
    assert vg.name == "vg-rec"
    assert vg.pv_names == ("/dev/loop0", "/dev/loop1")
    assert vg.tags == ("MDT_VERSION=5", "RHAT_storage_domain")
    assert vg.extent_size == EXTENT
    assert (vg.extent_count, vg.free_count) == (26, 4)
    assert vg.size == 26 * EXTENT and vg.free == 4 * EXTENT
    assert vg.lv_count == 2 and vg.mda_count == 4
    assert vg.writeable and not vg.partial


def test_lvs_segments_merged():
    lvs = {lv.name: lv for lv in lvm_report.parse_lvs(rows("lv"))}
    assert set(lvs) == {"span", "vol1"}
    assert lvs["vol1"].tags == ("IU_img1", "PU_00000000")
    assert lvs["vol1"].size == 2 * EXTENT
    assert lvs["vol1"].devices == ("/dev/loop0(0)",)
    assert lvs["span"].size == 20 * EXTENT
    assert lvs["span"].devices == ("/dev/loop1(0)", "/dev/loop0(2)")
    assert lvs["span"].tags == ()
    assert lvs["vol1"].writeable
    assert not lvs["vol1"].active   # 'X': unknown without device-mapper


@pytest.mark.parametrize("attr, writeable, active, opened", [
    ("-wi-a-----", True, True, False),    # active (a real host)
    ("-wi-ao----", True, True, True),     # active and open
    ("-ri-a-----", False, True, False),   # read-only
    ("-wi-------", True, False, False),   # inactive
])
def test_lv_attr(attr, writeable, active, opened):
    lv = LV("a", "vg", "u", 1, (), attr, ())
    assert (lv.writeable, lv.active, lv.opened) == (writeable, active, opened)


def test_compact_rows_round_trip():
    original = rows("lv")
    values = [[row[f] for f in lvm_report.LV_FIELDS] for row in original]
    assert lvm_report.from_values("lv", values) == [
        {f: row[f] for f in lvm_report.LV_FIELDS} for row in original]
    with pytest.raises(lvm_report.ReportError):
        lvm_report.from_values("lv", [values[0][:-1]])


@pytest.mark.parametrize("text", [
    "", "not json", '{"report": 1}', '{"report": [{"vg": []}]}',
    '{"report": [{"lv": [{"lv_name": "a"}]}]}',
])
def test_bad_reports(text):
    with pytest.raises(lvm_report.ReportError):
        lvm_report.rows(text, "lv")
