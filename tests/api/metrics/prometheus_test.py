"""A real Prometheus server scraping an in-process agent every second.

Prometheus runs as its own process with its own configuration and a
temporary TSDB on a free loopback port, and is stopped by its pid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator

import pytest

from tests.agentproc import free_port

PROMETHEUS = "/usr/bin/prometheus"
WAIT = 30.0  # seconds for the first successful scrape or a query to match


class Prometheus:
    def __init__(self, target: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="vdsm-prometheus-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: vdsm\n"
                    "    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        self.log = os.path.join(self.dir, "prometheus.log")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                answer = json.load(r)
        except OSError:
            return []  # not listening yet
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, expr: str, accept: Callable[[float], bool]) -> float:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            for series in self.query(expr):
                value = float(series["value"][1])
                if accept(value):
                    return value
            time.sleep(0.5)
        raise AssertionError(f"{expr} not matched in {WAIT} s:\n{self.output()}")

    def output(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def prometheus(agent) -> Iterator[Prometheus]:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip("prometheus is not installed (scripts/install-deps.sh)")
    server = Prometheus(f"127.0.0.1:{agent.metrics.port}")
    try:
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_the_agent(agent, prometheus):
    assert prometheus.wait_for('up{job="vdsm"}', lambda v: v == 1) == 1
    for _ in range(3):
        assert agent.proxy.ping()["status"]["code"] == 0
    calls = prometheus.wait_for(
        'vdsm_api_calls_total{job="vdsm",verb="Host.ping",binding="xmlrpc"}',
        lambda v: v >= 3)
    assert calls == 3
    assert prometheus.wait_for('vdsm_host_memory_total_bytes{job="vdsm"}',
                               lambda v: v > 0)
    # The whole scrape was parsed and stored.
    assert prometheus.wait_for(
        'scrape_samples_post_metric_relabeling{job="vdsm"}', lambda v: v > 0)
