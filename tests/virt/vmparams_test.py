"""vmParams validation and normalization (pure)."""

from __future__ import annotations

import pytest

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.virt import vmparams

VM_ID = "11111111-2222-3333-4444-555555555555"


def test_strings_converted_and_defaults():
    d = vmparams.parse({"vmId": VM_ID, "memSize": "256", "smp": "4",
                        "smpCoresPerSocket": "2", "kvmEnable": "false",
                        "timeOffset": "-60", "unknownKey": 1})
    assert (d.mem_mib, d.smp, d.cores_per_socket) == (256, 4, 2)
    assert d.kvm_enable is False and d.time_offset == -60
    assert d.name == VM_ID
    conf = d.conf()
    assert conf["memSize"] == 256 and conf["smp"] == "4"
    assert conf["unknownKey"] == 1   # kept in the definition, unused
    types = [dev["type"] for dev in conf["devices"]]
    assert types == ["balloon", "channel", "channel", "console"]


@pytest.mark.parametrize("params, error, words", [
    ({"memSize": 64}, MissingParameter, "vmId"),
    ({"vmId": "nope", "memSize": 64}, InvalidParameter, "UUID"),
    ({"vmId": VM_ID}, MissingParameter, "memSize"),
    ({"vmId": VM_ID, "memSize": -1}, InvalidParameter, "memSize"),
    ({"vmId": VM_ID, "memSize": True}, InvalidParameter, "memSize"),
    ({"vmId": VM_ID, "memSize": 64, "smp": 3, "smpCoresPerSocket": 2},
     InvalidParameter, "multiple"),
    ({"vmId": VM_ID, "memSize": 64, "boot": "x"}, InvalidParameter, "boot"),
    ({"vmId": VM_ID, "memSize": 64, "kvmEnable": "maybe"}, InvalidParameter,
     "kvmEnable"),
    ({"vmId": VM_ID, "memSize": 64, "initrd": "/i"}, InvalidParameter,
     "kernel"),
    ({"vmId": VM_ID, "memSize": 64, "custom": "x"}, InvalidParameter,
     "custom"),
])
def test_invalid(params, error, words):
    with pytest.raises(error) as e:
        vmparams.parse(params)
    assert words in e.value.message


def test_not_a_struct():
    with pytest.raises(InvalidParameter):
        vmparams.parse(["vmId"])
