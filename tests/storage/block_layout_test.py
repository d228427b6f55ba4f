"""vdsm/storage/domains/block/layout.py: a new block domain's special LVs and
initial metadata as data, and that they fit a real VG."""

from __future__ import annotations

import pytest

from tests.storage import lvfiles
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.storage import constants as sc
from vdsm.storage.domains.block import layout, tags
from vdsm.storage.errors import MetaDataValidationError
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.storage.lvm_report import PV

MIB = 1024 * 1024


def pv(name: str, uuid: str, pe_count: int) -> PV:
    return PV(name=name, uuid=uuid, size=0, free=0, vg_name="vg", pe_count=pe_count,
              pe_alloc_count=0, dev_size=0, pe_start=0, mda_count=1,
              mda_used_count=1, mda_size=0, mda_free=0)


def test_format_5_special_lvs_in_classic_order_with_sizes():
    assert layout.special_lvs(5) == [
        layout.SpecialLV("metadata", 128 * MIB, 17 * MIB, True),
        layout.SpecialLV("ids", 8 * MIB),
        layout.SpecialLV("inbox", 16 * MIB, 1 * MIB),
        layout.SpecialLV("outbox", 16 * MIB, 1 * MIB),
        layout.SpecialLV("leases", 2048 * MIB),
        layout.SpecialLV("xleases", 1024 * MIB),
        layout.SpecialLV("master", 1024 * MIB)]


def test_format_3_has_no_xleases_and_alignment_scales_the_leases():
    assert "xleases" not in [lv.name for lv in layout.special_lvs(3)]
    sizes = {lv.name: lv.size for lv in layout.special_lvs(5, 8 * MIB)}
    assert sizes["leases"] == 2048 * 8 * MIB and sizes["xleases"] == 1024 * 8 * MIB


def test_extents_needed_rounds_each_lv_up():
    # 128 MiB extents: metadata 1, ids 1, inbox 1, outbox 1, leases 16,
    # xleases 8, master 8.
    assert layout.extents_needed(layout.special_lvs(5), 128 * MIB) == 36
    assert layout.extents_needed(layout.special_lvs(3), 128 * MIB) == 28


def test_pv_mapping_puts_the_metadata_pv_first_and_counts_offsets():
    pvs = [pv("/dev/mapper/36001b", "u-b", 100), pv("/dev/mapper/36001a", "u-a", 39)]
    assert layout.pv_mapping(pvs, "/dev/mapper/36001a") == {
        "PV0": "pv:36001a,uuid:u-a,pestart:0,pecount:39,mapoffset:0",
        "PV1": "pv:36001b,uuid:u-b,pestart:0,pecount:100,mapoffset:39"}
    with pytest.raises(MetaDataValidationError):
        layout.pv_mapping(pvs, "/dev/mapper/other")


def test_pv_info_round_trips_and_bad_values_are_errors():
    value = layout.encode_pv_info("36001a", "u-a", 39, 0)
    assert layout.decode_pv_info(value) == {
        "guid": "36001a", "uuid": "u-a", "pestart": "0", "pecount": "39",
        "mapoffset": "0"}
    for bad in ("pv:x", "pv:x,uuid", "pv:a,uuid:b,pestart:0,pecount:1,other:2"):
        with pytest.raises(MetaDataValidationError):
            layout.decode_pv_info(bad)


def test_initial_metadata_of_format_5_and_4():
    mapping = {"PV0": "pv:36001a,uuid:u-a,pestart:0,pecount:39,mapoffset:0"}
    md = layout.initial_metadata(sd_uuid="sd1", name="blk", dom_type=sc.ISCSI_DOMAIN,
                                 dom_class=sc.DATA_DOMAIN, version=5, vg_uuid="vgu",
                                 mapping=mapping)
    assert md == {
        "SDUUID": "sd1", "TYPE": "ISCSI", "CLASS": "Data", "DESCRIPTION": "blk",
        "ROLE": "Regular", "POOL_UUID": "", "VERSION": "5", "BLOCK_SIZE": "512",
        "ALIGNMENT": "1048576", "VGUUID": "vgu", **mapping,
        **{k: str(v) for k, v in sc.DEFAULT_LEASE_PARAMS.items()}}
    v4 = layout.initial_metadata(sd_uuid="sd1", name="blk", dom_type=sc.FCP_DOMAIN,
                                 dom_class=sc.DATA_DOMAIN, version=4, vg_uuid="vgu",
                                 mapping=mapping)
    assert "BLOCK_SIZE" not in v4 and "ALIGNMENT" not in v4
    assert v4["LOGBLKSIZE"] == v4["PHYBLKSIZE"] == "512" and v4["TYPE"] == "FCP"
    tags.domain_tags(md)        # every line fits one VG tag


@need_lvm
def test_the_layout_fits_a_real_vg_with_metadata_at_extent_0_of_pv0(tmp_path):
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    lvs = layout.special_lvs(5)
    with loop_devices(2, size_mb=3072) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices, tags=[tags.UNREADY_DOMAIN_TAG])
        before = lvm.vg(vg).free_count
        assert before >= layout.extents_needed(lvs, lvm.vg(vg).extent_size)
        for lv in lvs:
            lvm.lvcreate(vg, lv.name, lv.size)
        vg_info = lvm.vg(vg)
        used = before - vg_info.free_count
        assert used == layout.extents_needed(lvs, vg_info.extent_size)
        mapping = layout.pv_mapping(lvm.vg_pvs(vg), devices[0])
        pv0 = layout.decode_pv_info(mapping["PV0"])
        assert pv0["guid"] == devices[0].rsplit("/")[-1]
        first_pv = next(p for p in lvm.vg_pvs(vg) if p.name == devices[0])
        extents = lvfiles.extent_map(devices, vg)
        assert extents["metadata"][0][:2] == (devices[0], first_pv.pe_start)
        md = layout.initial_metadata(sd_uuid=vg, name="blk", dom_type=sc.ISCSI_DOMAIN,
                                     dom_class=sc.DATA_DOMAIN, version=5,
                                     vg_uuid=vg_info.uuid, mapping=mapping)
        lvm.change_vg_tags(vg, add=tags.domain_tags(md))
        delete, add = layout.READY_TAG_CHANGE
        lvm.change_vg_tags(vg, delete=delete, add=add)
        vg_tags = lvm.vg(vg).tags
        assert tags.DOMAIN_TAG in vg_tags and tags.UNREADY_DOMAIN_TAG not in vg_tags
        assert tags.parse_domain_tags(vg_tags) == md
