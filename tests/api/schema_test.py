"""The real schema file: well formed, consistent with the code and docs."""

from __future__ import annotations

import os

import pytest

from vdsm.api import codes, docs, schema
from vdsm.api.dispatcher import snake_case
from vdsm.common.errors import InvalidParameter, MissingParameter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_schema_loads_and_names_are_unique():
    api = schema.load()
    assert api.get("getVdsCapabilities") is api.get("Host.getCapabilities")
    assert api.get("getVdsCapabilities").payload == "info"
    assert api.get("getTaskStatus").payload == "taskStatus"


def test_docs_page_is_up_to_date():
    with open(os.path.join(REPO, "docs", "api.md")) as f:
        assert f.read() == docs.render(schema.load()), \
            "regenerate: python3 -m vdsm.api.docs > docs/api.md"


@pytest.mark.parametrize("name,expected", [
    ("vmID", "vm_id"), ("getCapabilities", "get_capabilities"),
    ("sdUUID", "sd_uuid"), ("storagepoolID", "storagepool_id"),
    ("getAllTasksStatuses", "get_all_tasks_statuses"), ("ping", "ping"),
])
def test_snake_case(name, expected):
    assert snake_case(name) == expected


VERB = schema.parse({"verbs": [{
    "name": "Volume.getInfo", "classic": "getVolumeInfo",
    "classic_params": ["sdUUID", "spUUID", "volUUID"],
    "params": [
        {"name": "volUUID", "type": "uuid"},
        {"name": "spUUID", "type": "uuid"},
        {"name": "sdUUID", "type": "uuid"},
        {"name": "size", "type": "int", "optional": True, "default": 0},
        {"name": "tags", "type": "list", "items": "string", "optional": True},
    ]}]}).get("getVolumeInfo")
U1, U2, U3 = ("11111111-1111-1111-1111-111111111111",
              "22222222-2222-2222-2222-222222222222",
              "33333333-3333-3333-3333-333333333333")


def test_classic_positional_order():
    named = VERB.bind_positional([U1, U2, U3])
    assert named == {"sdUUID": U1, "spUUID": U2, "volUUID": U3}
    assert VERB.validate(named)["size"] == 0


def test_int_given_as_decimal_string():
    args = VERB.validate({"sdUUID": U1, "spUUID": U2, "volUUID": U3,
                          "size": str(2 ** 40)})
    assert args["size"] == 2 ** 40


@pytest.mark.parametrize("args,error,word", [
    ({"sdUUID": U1, "spUUID": U2}, MissingParameter, "volUUID"),
    ({"sdUUID": U1, "spUUID": U2, "volUUID": "nope"}, InvalidParameter,
     "volUUID"),
    ({"sdUUID": U1, "spUUID": U2, "volUUID": U3, "bogus": 1},
     InvalidParameter, "bogus"),
    ({"sdUUID": U1, "spUUID": U2, "volUUID": U3, "size": True},
     InvalidParameter, "size"),
    ({"sdUUID": U1, "spUUID": U2, "volUUID": U3, "tags": ["a", 1]},
     InvalidParameter, "tags"),
])
def test_validation_errors_name_the_parameter(args, error, word):
    with pytest.raises(error) as e:
        VERB.validate(args)
    assert word in e.value.message


def test_bad_schema_is_rejected():
    with pytest.raises(schema.SchemaError):
        schema.parse({"verbs": [{"name": "x.y", "params": [
            {"name": "a", "type": "bogus"}]}]})
    with pytest.raises(schema.SchemaError):
        schema.parse({"verbs": [{"name": "A.b", "classic": "b"},
                                {"name": "A.c", "classic": "b"}]})


def test_codes_table_has_the_classic_numbers():
    assert codes.CODES["NoSuchVM"][0] == 1
    assert codes.CODES["MissingParameter"][0] == 11
    assert codes.CODES["UnexpectedError"][0] == 16
    assert codes.CODES["UnknownTask"][0] == 401
