"""The registry of named undo functions."""

from __future__ import annotations

import pytest

from vdsm.tasks.errors import InvalidRecovery
from vdsm.tasks.recovery import RecoveryRegistry, RecoveryStep


def test_register_and_run():
    calls = []
    registry = RecoveryRegistry()

    @registry.recovery("remove")
    def remove(path, force=False):
        calls.append((path, force))

    step = registry.step("remove", {"path": "/x", "force": True})
    assert step == RecoveryStep("remove", {"path": "/x", "force": True})
    assert RecoveryStep.from_record(step.to_record()) == step
    registry.run(step)
    assert calls == [("/x", True)]
    assert "remove" in registry


def test_names_are_unique():
    registry = RecoveryRegistry()
    registry.register("undo", lambda: None)
    with pytest.raises(InvalidRecovery):
        registry.register("undo", lambda: None)


@pytest.mark.parametrize("args", [
    {"handle": object()},        # not JSON at all
    {"pair": (1, 2)},            # comes back as a list
    {"keys": {1: "one"}},        # comes back with a string key
])
def test_arguments_must_survive_json(args):
    registry = RecoveryRegistry()
    registry.register("undo", lambda **kw: None)
    with pytest.raises(InvalidRecovery):
        registry.step("undo", args)


def test_unknown_names_are_refused():
    registry = RecoveryRegistry()
    with pytest.raises(InvalidRecovery):
        registry.step("nothing")
    with pytest.raises(InvalidRecovery):
        registry.run(RecoveryStep("nothing"))


@pytest.mark.parametrize("record", [
    {"args": {}}, {"name": 3}, {"name": "x", "args": []}, "x"])
def test_malformed_records(record):
    with pytest.raises(InvalidRecovery):
        RecoveryStep.from_record(record)


def test_job_registering_unknown_step_fails_and_rolls_back(manager, journal):
    def job(ctx):
        ctx.add_recovery("undo", {"step": "kept"})
        ctx.add_recovery("no-such-undo")

    task_id = manager.schedule(job)
    assert manager.wait(task_id, 5)
    status = manager.get_status(task_id)
    assert status["taskResult"] == "cleanSuccess"
    assert "no-such-undo" in status["message"]
    assert journal.entries == ["kept"]
