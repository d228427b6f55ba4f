"""The setupNetworks pipeline around the apply: connectivity check and hooks
(in-process agent; the engine-in-a-namespace test is connectivity_test)."""

from __future__ import annotations

import json
import os
import threading
import time

from tests.eventrec import Recorder

from .rig import code

HOST_CONN = "|net|host_conn|no_id"

NET = {"checked": {"nic": "nic1", "ipaddr": "10.95.0.2", "prefix": 24}}


def test_change_without_any_client_call_is_rolled_back(rig, agent):
    before = rig.ns.snapshot()
    events = Recorder()
    agent.notifier.subscribe(events)
    start = time.monotonic()
    answer = agent.proxy.setupNetworks(
        NET, {}, {"connectivityCheck": "true", "connectivityTimeout": 1})
    assert code(answer) == 10, answer
    assert [p["reason"] for p in events.of(HOST_CONN)] == ["rollback"]
    assert "rolled back" in answer["status"]["message"]
    assert 1 <= time.monotonic() - start < 5
    assert rig.ns.snapshot() == before
    assert agent.proxy.getVdsCapabilities()["info"]["networks"] == {}


def test_change_confirmed_by_a_client_call_is_kept(rig, agent):
    def engine_polls():
        time.sleep(0.3)
        rig.proxy(agent).ping()

    events = Recorder()
    agent.notifier.subscribe(events)
    poller = threading.Thread(target=engine_polls)
    poller.start()
    answer = agent.proxy.setupNetworks(
        NET, {}, {"connectivityCheck": True, "connectivityTimeout": 10})
    poller.join(10)
    assert code(answer) == 0, answer
    assert events.of(HOST_CONN) == [{"reason": "setupNetworks",
                                     "networks": ["checked"],
                                     "notify_time": events.of(HOST_CONN)[0][
                                         "notify_time"]}]
    assert rig.ns.links()["nic1"]["master"] == "checked"
    assert sorted(agent.proxy.getVdsCapabilities()["info"]["networks"]) == \
        ["checked"]


HOOK_EDIT = """#!/usr/bin/python3
import json, os
path = os.environ["_hook_json"]
with open(path) as f:
    data = json.load(f)
for net in data["request"]["networks"].values():
    net["mtu"] = 2000
with open(path, "w") as f:
    json.dump(data, f)
"""
HOOK_COPY = """#!/bin/sh
cp "$_hook_json" {target}
"""


def _install(hooks_dir, point, name, text):
    os.makedirs(os.path.join(hooks_dir, point), exist_ok=True)
    path = os.path.join(hooks_dir, point, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def test_network_hooks_see_and_may_edit_the_request(rig, agent, tmp_path):
    hooks_dir = rig.config.hooks_dir
    installed = [
        _install(hooks_dir, "before_network_setup", "50_mtu", HOOK_EDIT),
        _install(hooks_dir, "after_network_setup", "50_copy",
                 HOOK_COPY.format(target=tmp_path / "after.json")),
        _install(hooks_dir, "after_network_setup_fail", "50_copy",
                 HOOK_COPY.format(target=tmp_path / "fail.json"))]
    try:
        assert code(agent.proxy.setupNetworks(NET, {}, {})) == 0
        assert rig.ns.links()["checked"]["mtu"] == 2000
        with open(tmp_path / "after.json") as f:
            assert json.load(f)["request"]["networks"]["checked"]["mtu"] == 2000
        assert code(agent.proxy.setupNetworks(
            {"other": {"nic": "nic9"}}, {}, {})) == 23
        with open(tmp_path / "fail.json") as f:
            assert "nic9" in json.load(f)["error"]
    finally:
        for path in installed:
            os.unlink(path)
