"""The agent assembly in-process: subsystems, task managers, call tracking."""

from __future__ import annotations

import time

import pytest

from tests.agentproc import in_process_agent
from vdsm.tasks.manager import TaskManager


class _Extra:
    """A tiny subsystem: one Host verb of its own and a caps extension."""

    name = "extra"

    def __init__(self, agent):
        self.started = self.stopped = False

    def handlers(self):
        return {"Host": self}

    def ping(self):
        raise AssertionError("the core handler, registered first, must win")

    def extend_capabilities(self, info):
        info["extraFeature"] = True

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


@pytest.fixture
def agent():
    with in_process_agent([_Extra]) as a:
        yield a


def test_subsystem_started_and_extends_caps(agent):
    assert agent.subsystems["extra"].started
    assert agent.proxy.getVdsCapabilities()["info"]["extraFeature"] is True


def test_last_call_time_moves_with_calls(agent):
    before = agent.last_call_time()
    time.sleep(0.01)
    agent.proxy.ping()
    assert agent.last_call_time() > before


def test_task_verbs_see_every_manager(agent):
    pool_tasks = TaskManager(1)
    agent.add_task_manager(pool_tasks)
    try:
        task_id = pool_tasks.schedule(lambda ctx: None, verb="poolVerb")
        assert pool_tasks.wait(task_id, 10)
        status = agent.proxy.getTaskStatus(task_id)["taskStatus"]
        assert status["taskResult"] == "success"
        assert task_id in agent.proxy.getAllTasksStatuses()["allTasksStatus"]
        assert agent.proxy.clearTask(task_id)["status"]["code"] == 0
        assert agent.proxy.getTaskStatus(task_id)["status"]["code"] == 401
    finally:
        pool_tasks.shutdown(5)
