"""Task state changes are published (``|tasks|status|<taskID>``)."""

from __future__ import annotations

import uuid

from tests.eventrec import Raising, Recorder
from vdsm.common.errors import VdsmError
from vdsm.tasks.manager import TaskManager

from .helpers import error_code


class Boom(VdsmError):
    name = "Boom"
    default_message = "Boom went the job"


def _states(rec: Recorder, task_id: str) -> list[tuple[str, str]]:
    return [(p["taskState"], p["taskResult"])
            for p in rec.of(f"|tasks|status|{task_id}")]


def test_successful_task(registry):
    rec = Recorder()
    manager = TaskManager(1, registry=registry, error_code=error_code,
                          publisher=rec)
    try:
        task_id = manager.schedule(lambda ctx: "done", verb="okVerb")
        assert manager.wait(task_id, 10)
        rec.wait(lambda ev: len(rec.of(f"|tasks|status|{task_id}")) >= 3, 5,
                 "the finished event")
        assert _states(rec, task_id) == [("running", ""), ("running", ""),
                                         ("finished", "success")]
        last = rec.of(f"|tasks|status|{task_id}")[-1]
        assert last == manager.get_status(task_id)
    finally:
        manager.shutdown(5)


def test_failed_task_rolls_back(registry, journal):
    rec = Recorder()
    manager = TaskManager(1, registry=registry, error_code=error_code,
                          publisher=rec)

    def job(ctx):
        ctx.add_recovery("undo", {"step": "one"})
        raise Boom()

    try:
        task_id = manager.schedule(job, verb="badVerb")
        assert manager.wait(task_id, 10)
        rec.wait(lambda ev: _states(rec, task_id)[-1:] ==
                 [("finished", "cleanSuccess")], 5, "the recovered event")
        assert _states(rec, task_id) == [
            ("running", ""), ("running", ""), ("aborting", ""),
            ("cleaning", ""), ("finished", "cleanSuccess")]
        aborting = rec.of(f"|tasks|status|{task_id}")[2]
        assert aborting["code"] == 999
    finally:
        manager.shutdown(5)


def test_a_broken_publisher_does_not_fail_tasks(registry):
    broken = Raising()
    manager = TaskManager(1, registry=registry, publisher=broken)
    try:
        task_id = manager.schedule(lambda ctx: 42)
        assert manager.wait(task_id, 10)
        assert manager.get_status(task_id)["taskResult"] == "success"
        assert broken.calls >= 3
    finally:
        manager.shutdown(5)


def test_a_sink_may_read_the_task(registry):
    seen = []
    holder = {}

    class Reading:
        def publish(self, event, params):
            task_id = params["taskID"]
            if task_id in holder.get("ids", ()):
                seen.append(holder["manager"].get_status(task_id)["taskID"])

    manager = TaskManager(1, registry=registry, publisher=Reading())
    task_id = str(uuid.uuid4())
    holder["manager"], holder["ids"] = manager, {task_id}
    try:
        manager.schedule(lambda ctx: None, task_id=task_id)
        assert manager.wait(task_id, 10)
        assert seen and set(seen) == {task_id}
    finally:
        manager.shutdown(5)
