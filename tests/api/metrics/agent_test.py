"""An in-process agent (port 0, temporary root) serving /metrics, checked
by ``promtool check metrics`` and parsed back after real API calls."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.tasks.manager import TaskManager

from .conftest import samples, scrape


def test_promtool_accepts_the_output(agent):
    assert agent.host_stats.wait_ready(10)
    for _ in range(3):
        agent.proxy.ping()
    agent.proxy.getTaskStatus("no-such-task")          # an error answer
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/install-deps.sh)")
    text = scrape(agent.metrics.port)
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    assert not res.stdout.strip() and not res.stderr.strip()  # no lint remark
    s = samples(text)
    ping = (("binding", "xmlrpc"), ("verb", "Host.ping"))
    assert s[("vdsm_api_calls_total", ping)] == 3
    status = (("binding", "xmlrpc"), ("verb", "Task.getStatus"))
    assert s[("vdsm_api_errors_total", status)] == 1
    assert s[("vdsm_host_memory_total_bytes", ())] > 0
    assert s[("vdsm_host_cpu_usage_ratio", (("mode", "idle"),))] >= 0


def test_tasks_of_every_manager_are_counted(agent):
    pool_tasks = TaskManager(1)
    agent.add_task_manager(pool_tasks)        # after the metrics were built
    try:
        task_id = pool_tasks.schedule(lambda ctx: None, verb="poolVerb")
        assert pool_tasks.wait(task_id, 10)
        s = samples(scrape(agent.metrics.port))
        assert s[("vdsm_tasks", (("state", "finished"),))] == 1
    finally:
        pool_tasks.shutdown(5)


def test_disabled_metrics_listen_nowhere():
    root = AgentRoot({("addresses", "management_port"): 0,
                      ("metrics", "enabled"): False})
    try:
        a = Agent(root.config, subsystems=[])
        assert a.metrics is None
        assert a.dispatcher.on_done is None
        a.tasks.shutdown(timeout=5)
    finally:
        root.cleanup()
