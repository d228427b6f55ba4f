"""Argument conversion from command-line strings, driven by the schema."""

from __future__ import annotations

import io

import pytest

from vdsm.api import schema
from vdsm_cli import args
from vdsm_cli.errors import UsageError

API = schema.parse({"verbs": [
    {"name": "Host.typed", "classic": "typed", "params": [
        {"name": "count", "type": "int"},
        {"name": "flag", "type": "bool"},
        {"name": "ratio", "type": "float", "optional": True},
        {"name": "opts", "type": "object", "optional": True},
        {"name": "ids", "type": "list", "items": "int", "optional": True},
        {"name": "extra", "type": "any", "optional": True},
    ]},
    {"name": "Demo.create", "classic": "demoCreate", "cli": "keyvalue",
     "params": [{"name": "vmParams", "type": "object"}]},
    {"name": "VM.hotplug", "classic": "hotplug", "cli": "keyvalue",
     "params": [{"name": "vmID", "type": "uuid"},
                {"name": "params", "type": "object"}]},
    {"name": "Host.nested", "classic": "nested", "params": [
        {"name": "specs", "type": "list", "items": "object"}]},
]})
TYPED = API.get("typed")
CREATE = API.get("demoCreate")


def test_int_bool_float():
    assert args.build(TYPED, ["-42", "TRUE", "0.5"]) == [-42, True, 0.5]
    assert args.build(TYPED, ["7", "false"]) == [7, False]


def test_big_int_kept_as_int_for_the_transport():
    # the transport sends it as a decimal string (wire_safe)
    assert args.build(TYPED, [str(2 ** 40), "true"])[0] == 2 ** 40


@pytest.mark.parametrize("argv, message", [
    (["1.5", "true"], "not a decimal integer"),
    (["1", "yes"], "not true or false"),
    (["1", "true", "x"], "not a number"),
    (["1", "true", "1", "{oops"], "not valid JSON"),
    (["1", "true", "1", "[1]"], "expected a JSON object"),
    (["1", "true", "1", "{}", "1,x"], "not a decimal integer"),
])
def test_bad_values(argv, message):
    with pytest.raises(UsageError) as e:
        args.build(TYPED, argv)
    assert message in e.value.message


def test_json_object_and_lists():
    built = args.build(TYPED, ["1", "true", "2", '{"a": [1, 2]}', "[3, 4]"])
    assert built[3:] == [{"a": [1, 2]}, [3, 4]]
    assert args.build(TYPED, ["1", "true", "2", "{}", "5, 6"])[4] == [5, 6]
    assert args.build(TYPED, ["1", "true", "2", "{}", ""])[4] == []


def test_list_of_structs_needs_json():
    assert args.build(API.get("nested"), ['[{"a": 1}]']) == [[{"a": 1}]]
    with pytest.raises(UsageError):
        args.build(API.get("nested"), ["a,b"])


def test_any_is_json_when_it_parses():
    base = ["1", "true", "2", "{}", "[]"]
    assert args.build(TYPED, base + ['{"k": true}'])[5] == {"k": True}
    assert args.build(TYPED, base + ["plain text"])[5] == "plain text"


def test_arity():
    with pytest.raises(UsageError, match="missing argument.*flag"):
        args.build(TYPED, ["1"])
    with pytest.raises(UsageError, match="at most 6"):
        args.build(TYPED, ["1", "true", "1", "{}", "[]", "x", "extra"])


def test_keyvalue_file_then_pairs_override(tmp_path):
    conf = tmp_path / "vm.conf"
    conf.write_text("# comment\n\nvmId = abc\nmemSize=128\n"
                    "kernelArgs=console=ttyS0 quiet\n")
    built = args.build(CREATE, [str(conf), "memSize=256", "smp=2"])
    assert built == [{"vmId": "abc", "memSize": "256", "smp": "2",
                      "kernelArgs": "console=ttyS0 quiet"}]


def test_keyvalue_dev_null_json_and_repeated_keys():
    built = args.build(CREATE, ["/dev/null", "drive=a", "drive=b",
                                'devices=[{"device": "disk"}]', "name="])
    assert built == [{"drive": ["a", "b"], "devices": [{"device": "disk"}],
                      "name": ""}]


def test_keyvalue_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("vmId=x\n"))
    assert args.build(CREATE, ["-", "smp=1"]) == [{"vmId": "x", "smp": "1"}]


def test_keyvalue_positional_params_before_the_struct():
    built = args.build(API.get("hotplug"), ["vm-1", "/dev/null", "nic=e1"])
    assert built == ["vm-1", {"nic": "e1"}]


@pytest.mark.parametrize("argv, message", [
    ([], "FILE"),
    (["/no/such/file"], "cannot read /no/such/file"),
    (["/dev/null", "novalue"], "expected key=value"),
    (["/dev/null", "=x"], "expected key=value"),
    (["/dev/null", "j={bad"], "not valid JSON"),
])
def test_keyvalue_errors(argv, message):
    with pytest.raises(UsageError) as e:
        args.build(CREATE, argv)
    assert message in e.value.message


def test_keyvalue_bad_file_line(tmp_path):
    conf = tmp_path / "vm.conf"
    conf.write_text("vmId=1\njunk\n")
    with pytest.raises(UsageError, match=r"vm.conf:2: expected key=value"):
        args.build(CREATE, [str(conf)])


def test_struct_hook(monkeypatch):
    monkeypatch.setattr(args, "_struct_hooks", {})
    args.register_struct_hook(
        "Demo.create", lambda s: {**s, "memSize": int(s["memSize"])})
    assert args.build(CREATE, ["/dev/null", "memSize=64"]) == [{"memSize": 64}]
