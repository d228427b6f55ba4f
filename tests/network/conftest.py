"""Fixtures of the network tests: a rig per module, an agent per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .rig import Rig


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    tag = request.module.__name__.rsplit(".", 1)[-1].replace("_test", "")[:8]
    rig = Rig(tag)
    try:
        yield rig
    finally:
        rig.cleanup()


@pytest.fixture
def agent(rig: Rig):
    rig.fresh_namespace()
    agent = rig.start_agent()
    try:
        yield agent
    finally:
        if not getattr(agent, "stopped", False):
            agent.stop()
