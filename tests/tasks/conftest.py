"""Fixtures for the task manager tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry

from .helpers import Journal, error_code


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def registry(journal: Journal) -> RecoveryRegistry:
    registry = RecoveryRegistry()
    registry.register("undo", lambda step: journal.add(step))
    return registry


@pytest.fixture
def manager(registry: RecoveryRegistry) -> Iterator[TaskManager]:
    manager = TaskManager(4, registry=registry, error_code=error_code)
    yield manager
    assert manager.shutdown(5.0), "workers did not stop"
