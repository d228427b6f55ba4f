"""The real vdsmd process (every subsystem, privileges dropped) serving
/metrics on the configured port, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.agentproc import AgentRoot, ensure_vdsm_user, free_port

from .conftest import samples, scrape


@pytest.fixture(scope="module")
def daemon():
    ensure_vdsm_user()
    root = AgentRoot({("metrics", "port"): free_port()})
    try:
        root.start_supervdsmd()
        root.start_vdsmd()
        yield root
    finally:
        root.cleanup()


def test_daemon_serves_metrics_from_every_source(daemon):
    for _ in range(2):
        assert daemon.proxy().ping()["status"]["code"] == 0
    text = scrape(daemon.config.get("metrics", "port"))
    s = samples(text)
    for source in ("host", "vms", "storage_domains", "tasks"):
        assert s[("vdsm_metrics_source_up", (("source", source),))] == 1, source
    ping = (("binding", "xmlrpc"), ("verb", "Host.ping"))
    assert s[("vdsm_api_calls_total", ping)] >= 2
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/install-deps.sh)")
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
