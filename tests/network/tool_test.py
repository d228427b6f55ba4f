"""The root tool: restore and clear in a namespace, show."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.agentproc import REPO
from vdsm import config as vdsm_config
from vdsm.network import parse
from vdsm.network.persistence import NetStore

from .nstools import Netns, require_root_and_ip


@pytest.fixture
def host(tmp_path):
    require_root_and_ip()
    ns = Netns(f"vdsmtest-tool-{os.getpid()}")
    try:
        ns.veth("nic0", "wire0")
        conf = str(tmp_path / "vdsm.conf")
        vdsm_config.write(conf, vdsm_config.rooted(
            str(tmp_path), network__netns=ns.name))
        yield ns, conf, vdsm_config.load(conf)
    finally:
        ns.delete()


def _tool(conf, *args):
    result = subprocess.run(
        [sys.executable, "-m", "vdsm.network.tool", "--config", conf, *args],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_restore_once_per_boot_then_clear(host):
    ns, conf, config = host
    original = ns.snapshot()
    store = NetStore(config.state_dir, config.run_dir)
    store.save_safe(parse.config_from_dict({"networks": {"mgmt": {
        "nic": "nic0", "ipaddr": "10.11.0.2", "prefix": 24}}}))

    assert "restored the safe configuration" in _tool(conf, "restore").stderr
    assert ns.links()["nic0"]["master"] == "mgmt"
    assert ns.addresses("mgmt") == ["10.11.0.2/24"]
    assert "nothing to do" in _tool(conf, "restore").stderr
    shown = json.loads(_tool(conf, "show").stdout)
    assert list(shown["running"]["networks"]) == ["mgmt"]
    assert shown["restored_since_boot"] is True

    _tool(conf, "clear")
    assert ns.snapshot() == original
    assert json.loads(_tool(conf, "show").stdout)["safe"] is None
