"""The hook authors' helper, in-process and as a real script."""

from __future__ import annotations

import os
import subprocess

import pytest

from vdsm_hooks import hooking

PYTHON = "/usr/bin/python3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def test_domxml_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "domxml"
    path.write_text("<domain type='qemu'><name>vm\u00e9</name></domain>",
                    encoding="utf-8")
    monkeypatch.setenv(hooking.DOMXML_ENV, str(path))
    doc = hooking.read_domxml()
    assert doc.documentElement.tagName == "domain"
    doc.documentElement.setAttribute("id", "3")
    hooking.write_domxml(doc)
    again = hooking.read_domxml()
    assert again.documentElement.getAttribute("id") == "3"
    name = again.getElementsByTagName("name")[0].firstChild.data
    assert name == "vm\u00e9"


def test_json_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "json"
    path.write_text('{"networks": {"net1": {"mtu": 1500}}}')
    monkeypatch.setenv(hooking.JSON_ENV, str(path))
    data = hooking.read_json()
    data["networks"]["net1"]["mtu"] = 9000
    hooking.write_json(data)
    assert hooking.read_json() == {"networks": {"net1": {"mtu": 9000}}}


@pytest.mark.parametrize("func,variable", [
    (hooking.read_domxml, "_hook_domxml"),
    (hooking.read_json, "_hook_json"),
])
def test_outside_vdsm_raises_clear_error(monkeypatch, func, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(hooking.NotRunByVdsm, match=f"{variable} is not set"):
        func()


def test_outside_vdsm_as_a_script():
    env = {k: v for k, v in os.environ.items()
           if k not in ("_hook_domxml", "_hook_json")}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run(
        [PYTHON, "-c", "from vdsm_hooks import hooking; hooking.read_domxml()"],
        env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "_hook_domxml is not set" in proc.stderr
    assert "To try it by hand" in proc.stderr


def test_exit_hook(capsys):
    with pytest.raises(SystemExit) as e:
        hooking.exit_hook("giving up")
    assert e.value.code == hooking.EXIT_STOP == 2
    assert capsys.readouterr().err == "giving up\n"
    with pytest.raises(SystemExit) as e:
        hooking.exit_hook("soft", hooking.EXIT_FAIL)
    assert e.value.code == 1


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("Yes", True), ("1", True), (" on ", True), (True, True),
    ("false", False), ("NO", False), ("0", False), ("", False),
    ("off", False), (False, False),
])
def test_tobool(value, expected):
    assert hooking.tobool(value) is expected


def test_tobool_rejects_typos():
    with pytest.raises(ValueError, match="not a boolean"):
        hooking.tobool("ture")


def test_exit_codes():
    assert (hooking.EXIT_OK, hooking.EXIT_FAIL, hooking.EXIT_STOP) == (0, 1, 2)
