"""The storage subsystem's volume extender (vdsm/storage/subsystem.py), the
seam through which the virt volume monitor grows thin block volumes.

An agent with both subsystems hands storage's extender to virt, and a
request reaches the real storage service (which refuses it without a
connected pool). The translation of the mailbox's ExtendResult into the
monitor's ``callback(error | None)`` is checked on a recording service;
the mailbox path itself is tested in extension_test.py and mailbox_test.py.
"""

from __future__ import annotations

import types

import pytest

from tests.agentproc import AgentRoot
from tests.virt.harness import agent_overrides
from vdsm.agent import Agent
from vdsm.storage.errors import StoragePoolUnknown, VolumeExtendingError
from vdsm.storage.spm.mailbox import ExtendResult
from vdsm.storage.subsystem import StorageSubsystem, _VolumeExtender
from vdsm.virt.subsystem import VirtSubsystem
from vdsm.virt.thinprov import ExtendRequest

REQUEST = ExtendRequest("sd", "sp", "img", "vol", 384 << 20)


def test_the_agent_gives_virt_the_storage_extender():
    root = AgentRoot(agent_overrides("test:///default"))
    try:
        agent = Agent(root.config, subsystems=[StorageSubsystem, VirtSubsystem])
        extender = agent.subsystems["virt"].volumes.extender
        assert isinstance(extender, _VolumeExtender)
        heard: list = []
        with pytest.raises(StoragePoolUnknown):    # no pool connected here
            extender.extend(REQUEST, heard.append)
        assert heard == []
    finally:
        root.cleanup()


class Service:
    def __init__(self, result: ExtendResult) -> None:
        self.result = result
        self.asked: list[tuple] = []

    def request_volume_extension(self, *args: object) -> None:
        *params, callback = args
        self.asked.append(tuple(params))
        callback(self.result)


def _extend(result: ExtendResult) -> tuple[Service, list]:
    service = Service(result)
    heard: list = []
    _VolumeExtender(types.SimpleNamespace(service=service)).extend(
        REQUEST, heard.append)
    assert service.asked == [("sd", "sp", "img", "vol", 384 << 20)]
    return service, heard


def test_a_reached_size_is_success():
    _, heard = _extend(ExtendResult("sd", "img", "vol", 384 << 20, size=384 << 20))
    assert heard == [None]


def test_the_reason_of_a_failure_reaches_the_monitor():
    _, heard = _extend(ExtendResult("sd", "img", "vol", 384 << 20,
                                    error="refresh failed: no such LV"))
    [error] = heard
    assert isinstance(error, VolumeExtendingError)
    assert "vol" in error.message and "refresh failed: no such LV" in error.message
