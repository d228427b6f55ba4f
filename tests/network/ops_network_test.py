"""supervdsm's network_apply through a real supervdsmd: the privilege
boundary checks what it is told and acts only in its configured
namespace."""

from __future__ import annotations

import pytest

from vdsm.api import codes
from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.supervdsm.client import SupervdsmClient


@pytest.fixture
def client(rig):
    rig.fresh_namespace()
    with SupervdsmClient(rig.config.supervdsm_socket, timeout=30) as c:
        yield c


def _code(error: VdsmError) -> int:
    return codes.CODES[error.name][0]


def test_apply_and_release_in_the_configured_namespace(rig, client):
    result = client.call("network_apply", ifaces={
        "br9": {"kind": "bridge", "addresses": ["10.3.0.1/24"]},
        "nic0": {"kind": "nic", "master": "br9"}}, release={})
    assert "create bridge br9" in result["changes"]
    assert rig.ns.links()["nic0"]["master"] == "br9"
    client.call("network_apply", ifaces={},
                release={"br9": "bridge", "nic0": "nic"})
    assert "br9" not in rig.ns.links()


@pytest.mark.parametrize("ifaces,release,code", [
    ({"x": {"kind": "tap"}}, {}, 21),
    ({"x": {"kind": "bridge", "mtu": 1}}, {}, 21),
    ({}, {"nic0": "bridge"}, 27),   # a NIC is never deleted as a bridge
    ({}, {"nic0": "vlan"}, 26),
    ({"nic7": {"kind": "nic"}}, {}, 23),
])
def test_junk_is_refused_and_nothing_changes(rig, client, ifaces, release,
                                             code):
    before = rig.ns.snapshot()
    with pytest.raises(VdsmError) as e:
        client.call("network_apply", ifaces=ifaces, release=release)
    assert _code(e.value) == code, e.value.message
    assert rig.ns.snapshot() == before


def test_caller_cannot_choose_the_namespace(client):
    with pytest.raises(InvalidParameter):
        client.call("network_apply", ifaces={}, release={}, netns="other")
