"""vdsm/storage/domains/block/tags.py: MDT_ VG tags, volume LV tags, special LVs."""

from __future__ import annotations

import pytest

from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.storage.domains.block import tags
from vdsm.storage.errors import (
    MetaDataKeyError,
    MetadataOverflowError,
    MetaDataValidationError,
)
from vdsm.storage.lvm import LVM, LocalRunner

MD = {"CLASS": "Data", "DESCRIPTION": "my dom", "VERSION": "5"}
TAGS = ["MDT_CLASS=Data", "MDT_DESCRIPTION=my&32&dom", "MDT_VERSION=5",
        "MDT__SHA_CKSUM=7b82d172bae261f19c1562155d0202baa9941d35"]


def test_domain_metadata_is_one_escaped_tag_per_line_then_the_checksum():
    assert tags.domain_tags(MD) == TAGS


def test_domain_tags_parse_back_in_any_order_ignoring_other_tags():
    vg_tags = [tags.DOMAIN_TAG, *reversed(TAGS), "IU_other"]
    assert tags.parse_domain_tags(vg_tags) == MD


def test_escaping_is_the_classic_one():
    assert tags.encode("a b,c&d=e:f#g/h") == "a&32&b&44&c&38&d=e:f#g/h"
    assert tags.decode("a&32&b&44&c&38&d") == "a b,c&d"
    assert tags.encode("a!b") == "a&33&b"        # lvm_cmd's alphabet has no "!"
    assert tags.decode("a!b") == "a!b"           # as the classic agent wrote it
    text = "PV0=pv:3600a,uuid:x y,pestart:0 é"
    assert tags.decode(tags.encode(text)) == text


def test_a_changed_tag_fails_the_checksum():
    bad = [t.replace("my&32&dom", "your&32&dom") for t in TAGS]
    with pytest.raises(MetaDataValidationError) as e:
        tags.parse_domain_tags(bad, source="VG X")
    assert "checksum" in e.value.message


def test_a_tag_decoding_to_a_newline_is_refused():
    with pytest.raises(MetaDataValidationError):
        tags.parse_domain_tags(["MDT_A=x&10&B=y"])


def test_bad_keys_are_refused_before_lvm_sees_them():
    with pytest.raises(MetaDataKeyError):
        tags.domain_tags({"bad key": "x"})


def test_a_line_longer_than_one_lvm_tag_is_refused_not_split():
    tags.domain_tags({"DESCRIPTION": "x" * (1024 - len("MDT_DESCRIPTION="))})
    with pytest.raises(MetadataOverflowError):
        tags.domain_tags({"DESCRIPTION": "x" * (1025 - len("MDT_DESCRIPTION="))})
    with pytest.raises(MetadataOverflowError):   # escaping counts
        tags.domain_tags({"DESCRIPTION": " " * 300})


def test_tag_changes_touch_only_the_lines_that_differ():
    new = dict(MD, VERSION="4")
    delete, add = tags.tag_changes([tags.DOMAIN_TAG, *TAGS], new)
    assert delete == ["MDT_VERSION=5", TAGS[-1]]
    assert add == ["MDT_VERSION=4", tags.domain_tags(new)[-1]]
    assert tags.tag_changes(TAGS, MD) == ([], [])


def test_volume_lv_tags():
    img, parent = "4f1e2d3c-0000-4000-8000-000000000001", tags.BLANK_UUID
    assert tags.volume_tags(img, parent, 7) == [
        "IU_4f1e2d3c-0000-4000-8000-000000000001",
        "PU_00000000-0000-0000-0000-000000000000", "MD_7"]
    parsed = tags.parse_volume_tags(tags.volume_tags(img, parent, 7, initializing=True))
    assert parsed == tags.VolumeTags(img, parent, 7, True)
    assert tags.parse_volume_tags(["RHAT_x"]) == tags.VolumeTags(None, None, None)


def test_a_bad_slot_tag_is_an_error():
    with pytest.raises(MetaDataValidationError):
        tags.parse_volume_tags(["MD_x1"])


def test_special_lvs_and_their_sizes():
    assert tags.special_lvs(3) == ("metadata", "leases", "ids", "inbox", "outbox",
                                   "master")
    assert tags.special_lvs(5) == ("metadata", "leases", "ids", "inbox", "outbox",
                                   "xleases", "master")
    assert tags.special_sizes_mib(1024 * 1024) == {
        "metadata": 128, "ids": 8, "inbox": 16, "outbox": 16, "master": 1024,
        "leases": 2048, "xleases": 1024}
    assert tags.special_sizes_mib(8 * 1024 * 1024)["leases"] == 16384


@need_lvm
def test_real_lvm_keeps_the_tags_and_a_change_touches_only_changed_lines():
    md = {"CLASS": "Data", "DESCRIPTION": "a, b & c! é", "VERSION": "5",
          "PV0": "pv:3600a,uuid:x-y,pestart:0,pecount:15,mapoffset:0",
          "LOGBLKSIZE": "512", "ROLE": "x" * (1024 - len("MDT_ROLE="))}
    with loop_devices(1, size_mb=1024) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices, tags=[tags.DOMAIN_TAG, *tags.domain_tags(md)])
        assert tags.parse_domain_tags(lvm.vg(vg).tags) == md
        new = dict(md, DESCRIPTION="renamed")
        delete, add = tags.tag_changes(lvm.vg(vg).tags, new)
        assert len(delete) == len(add) == 2          # the line and the checksum
        lvm.change_vg_tags(vg, add=add, delete=delete)
        vg_tags = lvm.vg(vg).tags
        assert tags.parse_domain_tags(vg_tags) == new
        assert tags.DOMAIN_TAG in vg_tags
