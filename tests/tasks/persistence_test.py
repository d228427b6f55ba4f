"""Persistent tasks on disk, and their recovery by a new process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vdsm.tasks.errors import AddTaskError, TaskPersistError
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.persistence import STATE_FILE, TaskStore
from vdsm.tasks.recovery import RecoveryRegistry

from .helpers import slow_job, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_child.py")


def stored(persist_dir, task_id):
    with open(os.path.join(persist_dir, task_id, STATE_FILE)) as f:
        return json.load(f)


def test_finished_task_is_reported_by_a_new_manager(tmp_path, registry):
    first = TaskManager(2, persist_dir=str(tmp_path), registry=registry)
    task_id = first.schedule(lambda ctx: "volume made", persist=True,
                             verb="createVolume", tags=["spm"])
    assert first.wait(task_id, 5)
    status = first.get_status(task_id)
    details = first.get_all_tasks()[task_id]
    assert first.shutdown(5)
    assert os.listdir(tmp_path / task_id) == [STATE_FILE]  # no temp file left

    second = TaskManager(2, persist_dir=str(tmp_path), registry=registry)
    try:
        assert second.recover() == [task_id]
        assert second.get_status(task_id) == status
        assert status["taskResult"] == "success"
        assert second.get_all_tasks()[task_id] == details
        assert details["result"] == "volume made"
        assert second.get_info(task_id) == {"id": task_id, "verb": "createVolume"}
        with pytest.raises(AddTaskError):
            second.schedule(lambda ctx: None, task_id=task_id, persist=True)
        second.clear(task_id)
        assert not (tmp_path / task_id).exists()
    finally:
        assert second.shutdown(5)


def test_state_and_undo_steps_are_written_on_every_change(tmp_path, registry):
    manager = TaskManager(1, persist_dir=str(tmp_path), registry=registry)
    try:
        task_id = manager.schedule(slow_job, persist=True)
        wait_for(lambda: stored(tmp_path, task_id)["recoveries"])
        record = stored(tmp_path, task_id)
        assert record["state"] == "running"
        assert record["recoveries"] == [{"name": "undo", "args": {"step": "slow"}}]
        manager.stop(task_id)
        assert manager.wait(task_id, 5)
        record = stored(tmp_path, task_id)
        assert (record["state"], record["recoveries"]) == ("recovered", [])
        assert record["error"] == "TaskAborted"
    finally:
        assert manager.shutdown(5)


def test_unpersisted_task_leaves_nothing_on_disk(tmp_path, registry):
    manager = TaskManager(1, persist_dir=str(tmp_path), registry=registry)
    try:
        task_id = manager.schedule(lambda ctx: None)
        assert manager.wait(task_id, 5)
        assert os.listdir(tmp_path) == []
    finally:
        assert manager.shutdown(5)


def test_persist_errors(tmp_path, registry):
    plain = TaskManager(1, registry=registry)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    broken = TaskManager(1, persist_dir=str(blocked), registry=registry)
    try:
        with pytest.raises(TaskPersistError):
            plain.schedule(lambda ctx: None, persist=True)
        with pytest.raises(TaskPersistError):
            broken.schedule(lambda ctx: None, persist=True)
        assert broken.get_all_tasks() == {}
    finally:
        assert plain.shutdown(5) and broken.shutdown(5)


def test_unreadable_records_are_skipped(tmp_path, registry):
    good = str(uuid.uuid4())
    TaskStore(str(tmp_path)).save(good, {
        "id": good, "verb": "v", "tags": [], "state": "finished", "code": 0,
        "message": "done", "result": "", "error": "", "recoveries": []})
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / STATE_FILE).write_text("{not json")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / STATE_FILE).write_text(json.dumps({"id": "elsewhere"}))
    bad_state = str(uuid.uuid4())
    TaskStore(str(tmp_path)).save(bad_state, {"id": bad_state, "state": "weird"})
    manager = TaskManager(1, persist_dir=str(tmp_path), registry=registry)
    try:
        assert manager.recover() == [good]
    finally:
        assert manager.shutdown(5)


def test_killed_process_tasks_are_rolled_back(tmp_path, journal):
    persist_dir = tmp_path / "tasks"
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    made, orphan, quick = (str(uuid.uuid4()) for _ in range(3))
    env = dict(os.environ, PYTHONPATH=REPO)
    child = subprocess.Popen(
        [sys.executable, CHILD, str(persist_dir), str(work_dir), made, orphan,
         quick], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (work_dir / "ready").exists():
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"child not ready: {child.stderr.read().decode()}")
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(5) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(5)
        child.stderr.close()

    assert (work_dir / "made").exists()
    assert stored(persist_dir, made)["state"] == "running"

    registry = RecoveryRegistry()
    registry.register("remove_file", lambda path: os.unlink(path))
    manager = TaskManager(2, persist_dir=str(persist_dir), registry=registry)
    try:
        assert sorted(manager.recover()) == sorted([made, orphan, quick])
        for task_id in (made, orphan, quick):
            assert manager.wait(task_id, 5)

        status = manager.get_status(made)
        assert (status["taskState"], status["taskResult"]) == (
            "finished", "cleanSuccess")
        assert "interrupted" in status["message"]
        assert not (work_dir / "made").exists()

        status = manager.get_status(orphan)
        assert status["taskResult"] == "cleanFailure"
        assert "child_only" in status["message"]
        assert stored(persist_dir, orphan)["state"] == "failed"

        assert manager.get_status(quick)["taskResult"] == "success"
        assert manager.get_all_tasks()[quick]["result"] == "quick result"
    finally:
        assert manager.shutdown(5)
