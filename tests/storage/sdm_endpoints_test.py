"""Argument checks of the SDM verbs (vdsm/storage/sdm/endpoints.py and the
parsers of each job), answered before a job exists; generation wrap."""

from __future__ import annotations

import pytest

from vdsm.storage.errors import InvalidParameterException
from vdsm.storage.sdm import amend_volume, create_volume, update_volume, volume_state
from vdsm.storage.sdm.endpoints import VolumeRef, copy_endpoint, volume_ref

U = "11111111-2222-3333-4444-555555555555"


def test_volume_ref_and_endpoints() -> None:
    info = {"sd_id": U, "img_id": U, "vol_id": U, "generation": 3}
    assert volume_ref(info) == VolumeRef(U, U, U, 3)
    assert copy_endpoint({**info, "endpoint_type": "div"}).generation == 3
    for bad in ({"sd_id": U, "img_id": U}, {**info, "generation": -1}, "x",
                {**info, "generation": "1"}):
        with pytest.raises(InvalidParameterException):
            volume_ref(bad)
    with pytest.raises(InvalidParameterException):
        copy_endpoint({**info, "endpoint_type": "external"})


def test_parsers() -> None:
    assert amend_volume.parse({"compat": "0.10"}) == "0.10"
    with pytest.raises(InvalidParameterException):
        amend_volume.parse({"compat": "2"})
    assert update_volume.parse({"legality": "ILLEGAL", "description": None}) == \
        {"legality": "ILLEGAL"}
    for bad in ({"legality": "FAKE"}, {"type": "LEAF"}, {"generation": 1000},
                {"color": "red"}):
        with pytest.raises(InvalidParameterException):
            update_volume.parse(bad)
    args = create_volume.parse({"sd_id": U, "img_id": U, "vol_id": U,
                                "virtual_size": 1024, "vol_format": "COW",
                                "parent": {"img_id": U, "vol_id": U}})
    assert (args["size"], args["vol_format"], args["src_vol_uuid"]) == (1024, 4, U)
    with pytest.raises(InvalidParameterException):
        create_volume.parse({"sd_id": U, "img_id": U, "vol_id": U,
                             "virtual_size": 1024, "vol_format": "QED"})


def test_generation_wraps_after_999() -> None:
    assert volume_state.next_generation(0) == 1
    assert volume_state.next_generation(999) == 0
