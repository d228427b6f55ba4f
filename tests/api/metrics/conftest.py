"""An in-process agent serving /metrics on a free port, and scrape helpers."""

from __future__ import annotations

import urllib.request
import xmlrpc.client

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agentproc import AgentRoot
from vdsm.agent import Agent
from vdsm.common import pki


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
