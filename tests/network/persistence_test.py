"""Running/safe configurations on disk, and what a start does with them."""

from __future__ import annotations

import json
import os

import pytest

from vdsm.common.errors import InvalidConfiguration
from vdsm.network import parse
from vdsm.network.model import NetConfig
from vdsm.network.persistence import NetStore

from .rig import NICS, code

CONFIG = parse.config_from_dict({
    "networks": {"net1": {"bonding": "bond0", "vlan": 4, "ipaddr": "10.0.0.2",
                          "prefix": 24, "mtu": 9000}},
    "bondings": {"bond0": {"nics": ["nic0", "nic1"]}}})


def test_store_layout_and_round_trip(tmp_path):
    store = NetStore(str(tmp_path / "lib"), str(tmp_path / "run"))
    assert store.load_running() == NetConfig()
    assert store.load_safe() is None
    store.save_running(CONFIG)
    with open(tmp_path / "lib/staging/netconf/nets/net1") as f:
        assert json.load(f)["mtu"] == 9000
    assert os.path.exists(tmp_path / "lib/staging/netconf/bonds/bond0")
    assert store.load_running() == CONFIG
    store.save_safe(NetConfig())
    assert store.load_safe() == NetConfig()
    store.save_running(NetConfig())
    assert not os.listdir(tmp_path / "lib/staging/netconf/nets")
    assert not store.restored()
    store.mark_restored()
    assert store.restored()


def test_interrupted_replacement_is_still_readable(tmp_path):
    store = NetStore(str(tmp_path), str(tmp_path))
    store.save_safe(CONFIG)
    os.rename(store.safe_dir, store.safe_dir + ".old")  # died between renames
    assert store.load_safe() == CONFIG
    store.save_safe(NetConfig())
    assert store.load_safe() == NetConfig()
    assert not os.path.exists(store.safe_dir + ".old")


def _restart(rig, agent):
    agent.stop()
    agent.stopped = True
    return rig.start_agent()


def test_safe_config_comes_back_after_a_reboot(rig, agent):
    ns = rig.ns
    safe = {"safe": {"nic": "nic0", "ipaddr": "10.80.0.2", "prefix": 24,
                     "mtu": 9000}}
    assert code(agent.proxy.setupNetworks(safe, {}, {})) == 0
    assert code(agent.proxy.setSafeNetworkConfig()) == 0
    unsafe = {"unsafe": {"nic": "nic1", "ipaddr": "10.81.0.2", "prefix": 24}}
    assert code(agent.proxy.setupNetworks(unsafe, {}, {})) == 0
    agent.stop()
    agent.stopped = True

    ns.flush(list(NICS))  # the reboot: devices gone, NICs bare
    rig.forget_boot()
    assert "safe" not in ns.links()
    after = rig.start_agent()
    try:
        links = ns.links()
        assert links["nic0"]["master"] == "safe"
        assert links["safe"]["mtu"] == 9000
        assert ns.addresses("safe") == ["10.80.0.2/24"]
        assert "unsafe" not in links and "master" not in links["nic1"]
        caps = after.proxy.getVdsCapabilities()["info"]
        assert sorted(caps["networks"]) == ["safe"]

        # A restart without a reboot restores nothing: the unsafe change
        # made now stays.
        assert code(after.proxy.setupNetworks(unsafe, {}, {})) == 0
        again = _restart(rig, after)
        after = again
        assert rig.ns.links()["nic1"]["master"] == "unsafe"
    finally:
        after.stop()


def test_change_left_unconfirmed_by_a_crash_is_rolled_back(rig, agent):
    before = rig.ns.snapshot()
    net = {"net1": {"nic": "nic2", "ipaddr": "10.90.0.2", "prefix": 24}}
    assert code(agent.proxy.setupNetworks(net, {}, {})) == 0
    # As if the agent died while waiting for the connectivity check:
    NetStore(rig.config.state_dir, rig.config.run_dir).save_checkpoint(
        NetConfig())
    after = _restart(rig, agent)
    try:
        assert rig.ns.snapshot() == before
        assert after.proxy.getVdsCapabilities()["info"]["networks"] == {}
        assert NetStore(rig.config.state_dir, rig.config.run_dir
                        ).load_checkpoint() is None
    finally:
        after.stop()


def test_corrupt_entry_is_refused_with_its_name(tmp_path):
    store = NetStore(str(tmp_path), str(tmp_path))
    store.save_running(CONFIG)
    with open(os.path.join(store.running_dir, "nets", "net1"), "w") as f:
        f.write('{"nic": "eth0", "vlan": 9999}')
    with pytest.raises(InvalidConfiguration, match="staging/netconf.*VLAN"):
        store.load_running()
