"""discoverSendTargets' choice of route and its checks of the con struct,
with a recording stand-in for supervdsm (no iscsid runs here: the real
discovery is proven end to end through libiscsi in blockdevs_test)."""

from __future__ import annotations

from typing import Any

import pytest

from vdsm.common.errors import InvalidParameter
from vdsm.storage import sendtargets

IQN = "iqn.2024-01.org.example:st.lun1"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, op: str, /, **args: Any) -> Any:
        self.calls.append((op, args))
        return [{"portal": "192.0.2.10", "port": 3260, "tpgt": 1, "iqn": IQN},
                {"portal": "fd00::10", "port": 3260, "tpgt": 1, "iqn": IQN}]


def test_iscsiadm_route_without_and_with_chap():
    sv = Recorder()
    answer = sendtargets.discover(sv, {"connection": "192.0.2.10", "port": "3260",
                                       "user": "", "password": ""})
    assert answer == {"fullTargets": [f"192.0.2.10:3260,1 {IQN}"], "targets": [IQN]}
    assert sv.calls == [("iscsi_discover", {"portal": "192.0.2.10", "port": 3260})]
    sv.calls.clear()
    answer = sendtargets.discover(sv, {"connection": "192.0.2.10", "user": "joe",
                                       "password": "s3cret", "ipv6_enabled": "true"})
    assert sv.calls == [("iscsi_discover_chap", {"portal": "192.0.2.10", "port": 3260,
                                                 "user": "joe", "password": "s3cret"})]
    assert answer["fullTargets"][1] == f"[fd00::10]:3260,1 {IQN}"


@pytest.mark.parametrize("con", [
    {}, {"connection": ""}, {"connection": "192.0.2.10", "port": "x"},
    {"connection": "192.0.2.10", "port": 70000}, {"connection": "-oops"},
    {"connection": "192.0.2.10", "user": ["joe"]}])
def test_bad_con_is_refused_before_any_discovery(con):
    sv = Recorder()
    with pytest.raises(InvalidParameter):
        sendtargets.discover(sv, con)
    assert sv.calls == []
