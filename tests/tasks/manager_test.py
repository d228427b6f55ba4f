"""The task manager driving real worker threads."""

from __future__ import annotations

import functools
import threading
import time
import uuid

import pytest

from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.tasks.errors import (
    AddTaskError,
    TaskNotFinished,
    TaskStateError,
    UnknownTask,
)
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry

from .helpers import error_code, slow_job, wait_for


class Boom(VdsmError):
    name = "Boom"
    default_message = "Boom went the job"


def running(manager: TaskManager, task_id: str) -> bool:
    """True once the job runs (the public state also says running if queued)."""
    return manager.get_all_tasks()[task_id]["state"] == "running"


def test_slow_task_polled_stopped_cleared(manager, journal):
    job = functools.partial(slow_job, linger=0.3)
    task_id = manager.schedule(job, verb="slowVerb", tags=["spm"])
    wait_for(lambda: running(manager, task_id))

    assert manager.get_status(task_id) == {
        "taskID": task_id, "taskState": "running", "taskResult": "",
        "code": 0, "message": "running job 1 of 1"}
    assert manager.get_info(task_id) == {"id": task_id, "verb": "slowVerb"}
    assert manager.get_all_info() == {task_id: {"id": task_id, "verb": "slowVerb"}}
    assert manager.get_all_info(tag="hsm") == {}
    assert list(manager.get_all_statuses(tag="spm")) == [task_id]
    details = manager.get_all_tasks()[task_id]
    assert details["verb"] == "slowVerb" and details["tag"] == "spm"

    manager.stop(task_id)
    assert manager.get_status(task_id)["taskState"] == "aborting"
    assert manager.wait(task_id, 5)

    status = manager.get_status(task_id)
    assert status["taskState"] == "finished"
    assert status["taskResult"] == "cleanSuccess"
    assert status["code"] == 411
    assert "stopped" in status["message"]
    assert journal.entries == ["slow"]

    manager.clear(task_id)
    with pytest.raises(UnknownTask):
        manager.get_status(task_id)
    assert manager.get_all_statuses() == {}


def test_successful_task_reports_result(manager, journal):
    task_id = manager.schedule(lambda ctx: {"size": 42}, verb="measure")
    assert manager.wait(task_id, 5)
    assert manager.get_status(task_id) == {
        "taskID": task_id, "taskState": "finished", "taskResult": "success",
        "code": 0, "message": "1 jobs completed successfully"}
    assert manager.get_all_tasks()[task_id]["result"] == {"size": 42}
    assert journal.entries == []


def test_failing_task_rolls_back_in_reverse(manager, journal):
    def job(ctx):
        ctx.add_recovery("undo", {"step": "first"})
        ctx.add_recovery("undo", {"step": "second"})
        raise Boom("disk on fire")

    task_id = manager.schedule(job)
    assert manager.wait(task_id, 5)
    status = manager.get_status(task_id)
    assert status["taskResult"] == "cleanSuccess"
    assert (status["code"], status["message"]) == (999, "disk on fire")
    assert journal.entries == ["second", "first"]


def test_unexpected_error_rolls_back(manager, journal):
    def job(ctx):
        ctx.add_recovery("undo", {"step": "only"})
        raise KeyError("bug")

    task_id = manager.schedule(job)
    assert manager.wait(task_id, 5)
    status = manager.get_status(task_id)
    assert (status["taskResult"], status["code"]) == ("cleanSuccess", 100)
    assert journal.entries == ["only"]


def test_failing_rollback_gives_clean_failure_and_revert_retries(journal):
    registry = RecoveryRegistry()
    registry.register("undo", lambda step: journal.add(step))
    failures = [Boom("undo failed")]

    def flaky(step):
        if failures:
            raise failures.pop()
        journal.add(step)

    registry.register("flaky", flaky)
    manager = TaskManager(2, registry=registry, error_code=error_code)
    try:
        def job(ctx):
            ctx.add_recovery("undo", {"step": "first"})
            ctx.add_recovery("flaky", {"step": "second"})
            raise Boom()

        task_id = manager.schedule(job)
        assert manager.wait(task_id, 5)
        status = manager.get_status(task_id)
        assert (status["taskState"], status["taskResult"]) == (
            "finished", "cleanFailure")
        assert status["message"] == "Rollback step flaky failed: undo failed"
        assert journal.entries == []  # stopped at the failing step

        manager.revert(task_id)
        assert manager.wait(task_id, 5)
        assert manager.get_status(task_id)["taskResult"] == "cleanSuccess"
        assert journal.entries == ["second", "first"]
    finally:
        assert manager.shutdown(5)


def test_clear_of_running_task_is_refused(manager):
    task_id = manager.schedule(slow_job)
    wait_for(lambda: running(manager, task_id))
    with pytest.raises(TaskStateError):
        manager.clear(task_id)
    with pytest.raises(TaskNotFinished):
        manager.revert(task_id)
    assert running(manager, task_id)
    manager.stop(task_id)
    assert manager.wait(task_id, 5)
    manager.clear(task_id)
    assert manager.get_all_tasks() == {}


def test_revert_of_finished_task_runs_its_undo_steps(manager, journal):
    def job(ctx):
        ctx.add_recovery("undo", {"step": "made"})
        return "ok"

    task_id = manager.schedule(job)
    assert manager.wait(task_id, 5)
    assert manager.get_status(task_id)["taskResult"] == "success"
    assert journal.entries == []
    manager.stop(task_id)  # a done task ignores stop
    manager.revert(task_id)
    assert manager.wait(task_id, 5)
    assert manager.get_status(task_id)["taskResult"] == "cleanSuccess"
    assert journal.entries == ["made"]


def test_job_ignoring_stop_is_still_rolled_back(manager, journal):
    started = threading.Event()

    def job(ctx):
        ctx.add_recovery("undo", {"step": "stubborn"})
        started.set()
        time.sleep(0.2)
        return "ignored the stop"

    task_id = manager.schedule(job)
    assert started.wait(5)
    manager.stop(task_id)
    assert manager.wait(task_id, 5)
    assert manager.get_status(task_id)["taskResult"] == "cleanSuccess"
    assert journal.entries == ["stubborn"]


def test_stop_of_queued_task_never_runs_it(journal, registry):
    manager = TaskManager(1, registry=registry)
    try:
        busy = manager.schedule(slow_job)
        wait_for(lambda: running(manager, busy))
        ran = threading.Event()
        queued = manager.schedule(lambda ctx: ran.set())
        assert manager.get_status(queued)["taskState"] == "running"
        assert manager.get_all_tasks()[queued]["state"] == "queued"
        manager.stop(queued)
        assert manager.get_status(queued)["taskResult"] == "cleanSuccess"
        manager.stop(busy)
        assert manager.wait(busy, 5)
        assert not ran.is_set()
    finally:
        assert manager.shutdown(5)


def test_unknown_task(manager):
    unknown = str(uuid.uuid4())
    for verb in (manager.get_status, manager.get_info, manager.stop,
                 manager.clear, manager.revert):
        with pytest.raises(UnknownTask) as e:
            verb(unknown)
        assert e.value.name == "UnknownTask"


def test_task_ids(manager):
    task_id = str(uuid.uuid4())
    assert manager.schedule(lambda ctx: None, task_id=task_id) == task_id
    with pytest.raises(AddTaskError):
        manager.schedule(lambda ctx: None, task_id=task_id)
    for bad in ("../../etc", "", "not-a-uuid"):
        with pytest.raises(InvalidParameter):
            manager.schedule(lambda ctx: None, task_id=bad)
    assert manager.wait(task_id, 5)


def test_twenty_tasks_on_four_workers(manager):
    lock = threading.Lock()
    active = [0]
    peak = [0]

    def job(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return ctx.task_id

    ids = [manager.schedule(job) for _ in range(20)]
    for task_id in ids:
        assert manager.wait(task_id, 5)
    statuses = manager.get_all_statuses()
    assert {s["taskResult"] for s in statuses.values()} == {"success"}
    assert len(statuses) == 20
    assert peak[0] == 4


def test_shutdown_is_bounded_and_refuses_new_tasks(registry):
    manager = TaskManager(2, registry=registry)
    release = threading.Event()
    stubborn = manager.schedule(lambda ctx: release.wait(5))
    polite = manager.schedule(slow_job)
    wait_for(lambda: running(manager, stubborn) and running(manager, polite))
    try:
        start = time.monotonic()
        assert not manager.shutdown(0.3)
        assert time.monotonic() - start < 1.0
        assert manager.wait(polite, 5)
        assert manager.get_status(polite)["taskResult"] == "cleanSuccess"
        with pytest.raises(AddTaskError):
            manager.schedule(lambda ctx: None)
    finally:
        release.set()
    assert manager.wait(stubborn, 5)
    assert manager.shutdown(5)
