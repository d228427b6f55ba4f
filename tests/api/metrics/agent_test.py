"""An in-process agent (port 0, temporary root) serving /metrics, checked
by ``promtool check metrics`` and parsed back after real API calls."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
import xmlrpc.client

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.common import pki
from vdsm.tasks.manager import TaskManager


@pytest.fixture
def agent():
    root = AgentRoot({("addresses", "management_port"): 0})
    a = Agent(root.config, subsystems=[])
    a.bind()
    a.start()
    a.server.serve_in_thread()
    ctx = pki.client_context(root.pki.ca_cert, root.pki.client_cert("engine"),
                             root.pki.client_key("engine"))
    a.proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{a.server.port}",
                                        context=ctx, allow_none=True)
    yield a
    a.stop()
    root.cleanup()


def scrape(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


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
    finally:
        root.cleanup()
