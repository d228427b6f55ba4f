"""The dependency runs api -> services: no subsystem imports vdsm.api.

Read from the source (ast), so an import hidden in a function or under
TYPE_CHECKING counts too.
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSYSTEMS = ("vdsm/virt", "vdsm/storage", "vdsm/network")


def _modules() -> list[str]:
    found = []
    for top in SUBSYSTEMS:
        for dirpath, _, files in os.walk(os.path.join(REPO, top)):
            found += [os.path.join(dirpath, f) for f in files if f.endswith(".py")]
    return sorted(found)


def _imports(path: str) -> list[tuple[int, str]]:
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}")
                      for alias in node.names]
    return found


def _is_api(name: str) -> bool:
    return name == "vdsm.api" or name.startswith("vdsm.api.")


def test_modules_found():
    assert len(_modules()) > 50


@pytest.mark.parametrize("path", _modules(),
                         ids=lambda p: os.path.relpath(p, REPO))
def test_no_api_import(path):
    bad = [f"line {line}: {name}" for line, name in _imports(path)
           if _is_api(name)]
    assert not bad, f"{os.path.relpath(path, REPO)} imports the API layer: {bad}"


def test_detects_api_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import vdsm.api.codes\nfrom vdsm import api\n"
                      "def f():\n    from vdsm.api.dispatcher import error_code\n")
    names = [n for _, n in _imports(str(sample)) if _is_api(n)]
    assert names == ["vdsm.api.codes", "vdsm.api", "vdsm.api.dispatcher",
                     "vdsm.api.dispatcher.error_code"]
