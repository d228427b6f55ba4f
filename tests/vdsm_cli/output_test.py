"""Readable answer formatting."""

from __future__ import annotations

import io
import json

from vdsm.api import schema
from vdsm_cli import output

API = schema.parse({"verbs": [
    {"name": "Host.ping", "classic": "ping", "params": []},
    {"name": "VM.getStats", "classic": "getVmStats", "payload": "statsList",
     "params": []},
    {"name": "Host.list", "classic": "listIds", "payload": "ids", "params": []},
]})
DONE = {"code": 0, "message": "Done"}


def printed(verb_name, answer, mode=None):
    out = io.StringIO()
    output.print_answer(API.get(verb_name), answer, out, mode=mode)
    return out.getvalue()


def test_status_only_prints_the_message():
    assert printed("ping", {"status": DONE}) == "Done\n"


def test_struct_aligned_and_sorted():
    assert output.format_struct({"b": 1, "long_key": "x", "a": None}) == [
        "a        = None", "b        = 1", "long_key = x"]


def test_nested_struct_and_empty_values():
    assert output.format_struct(
        {"n": {"x": 1, "yy": {"z": False}}, "e": {}, "l": []}) == [
        "e = {}", "l = []", "n:", "    x = 1", "    yy:", "        z = false"]


def test_multiline_value_stays_aligned():
    assert output.format_struct({"ab": "one\ntwo", "c": 1}) == [
        "ab = one", "     two", "c  = 1"]


def test_list_of_structs_payload_as_blocks():
    answer = {"status": DONE, "statsList": [
        {"vmId": "1", "status": "Up"}, {"vmId": "2", "status": "Down"}]}
    assert printed("getVmStats", answer) == (
        "status = Up\nvmId   = 1\n\nstatus = Down\nvmId   = 2\n")


def test_list_of_scalars_one_per_line():
    assert printed("listIds", {"status": DONE, "ids": ["a", "b"]}) == "a\nb\n"


def test_nested_list_of_structs_marked_items():
    assert output.format_struct({"disks": [{"a": 1, "bb": 2}, "x"]}) == [
        "disks:", "  - a  = 1", "    bb = 2", "  - x"]


def test_registered_formatter_and_modes(monkeypatch):
    monkeypatch.setattr(output, "_formatters", {})
    verb = API.get("listIds")
    output.register("Host.list", lambda v, a, out: out.write("DEFAULT\n"))
    output.register("Host.list", lambda v, a, out: out.write("TABLE\n"),
                    mode="table")
    assert output.modes(verb) == ["table"]
    assert output.take_mode(verb, ["table", "x"]) == ("table", ["x"])
    assert output.take_mode(verb, ["x", "table"]) == (None, ["x", "table"])
    answer = {"status": DONE, "ids": []}
    assert printed("listIds", answer) == "DEFAULT\n"
    assert printed("listIds", answer, mode="table") == "TABLE\n"


def test_json_output_keeps_wire_values():
    out = io.StringIO()
    answer = {"status": DONE, "info": {"big": str(2 ** 40), "blob": b"\x00\x01"}}
    output.print_json(answer, out)
    assert json.loads(out.getvalue()) == {
        "status": DONE, "info": {"big": str(2 ** 40), "blob": "AAE="}}
