"""The agent's wiring: handlers from services, subsystems handed to each other."""

from __future__ import annotations

import pytest

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.api import wiring
from vdsm.api.host import HostVerbs
from vdsm.api.task import TaskVerbs
from vdsm.common.errors import MethodNotImplemented
from vdsm.tasks.errors import UnknownTask


@pytest.fixture(scope="module")
def agent():
    root = AgentRoot({("addresses", "management_port"): 0})
    a = Agent(root.config)  # the daemon's default subsystems, not started
    yield a
    a.stop()
    root.cleanup()


def test_every_schema_verb_has_a_handler(agent):
    missing = []
    for name in agent.schema.names():
        try:
            agent.dispatcher._handler(agent.schema.get(name))
        except MethodNotImplemented:
            missing.append(name)
    assert missing == []


def test_virt_resolves_drives_through_storage(agent):
    resolver = agent.subsystems["virt"].ctx.resolver
    assert type(resolver).__name__ == "_DriveResolver"
    assert resolver._storage is agent.subsystems["storage"]


def test_network_asks_virt_for_vm_users(agent):
    vm_users = agent.subsystems["network"].service._vm_users
    assert vm_users == agent.subsystems["virt"].network_users
    assert vm_users("ovirtmgmt") == []


def test_host_stats_read_virt_and_storage(agent):
    stats = agent.host_stats
    assert stats._vm_counts == agent.subsystems["virt"].vm_counts
    assert stats._storage_stats == agent.subsystems["storage"].domain_stats


def test_network_extends_capabilities(agent):
    assert agent.subsystems["network"] in agent.host._extenders


def test_subsystems_know_no_handlers(agent):
    for sub in agent.subsystems.values():
        assert not isinstance(sub, wiring.HandlerProvider), sub.name


class _Host:
    def capabilities(self):
        return {"caps": True}

    def stats(self):
        return {"cpuIdle": "99.0"}

    def hardware_info(self):
        return {"systemManufacturer": "test"}


class _Tasks:
    def __init__(self, tasks):
        self.tasks = tasks

    def get_status(self, task_id):
        if task_id not in self.tasks:
            raise UnknownTask(f"Task id unknown: {task_id}")
        return self.tasks[task_id]

    def get_all_statuses(self):
        return dict(self.tasks)


def test_host_verbs_over_services_only():
    verbs = HostVerbs(_Host(), [_Tasks({"a": 1}), _Tasks({"b": 2})])
    assert verbs.get_capabilities() == {"caps": True}
    assert verbs.get_stats() == {"cpuIdle": "99.0"}
    assert verbs.get_hardware_info() == {"systemManufacturer": "test"}
    assert verbs.get_all_tasks_statuses() == {"a": 1, "b": 2}


def test_task_verbs_find_the_owner():
    verbs = TaskVerbs([_Tasks({"a": 1}), _Tasks({"b": 2})])
    assert verbs.get_status("b") == 2
    assert verbs.get_status("a") == 1
    with pytest.raises(UnknownTask):
        verbs.get_status("c")
