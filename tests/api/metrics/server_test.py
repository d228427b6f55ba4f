"""The /metrics listener over a real socket: paths, format, port 0, stop."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from vdsm.api.metrics import MetricsServer, Sources, registry_for


@pytest.fixture
def server():
    registry, calls = registry_for(Sources(tasks=lambda: []))
    srv = MetricsServer(registry, "127.0.0.1", 0)
    assert srv.start()
    yield srv
    srv.stop()


def _get(port, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)


def test_serves_the_text_format_on_metrics(server):
    with _get(server.port, "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
        body = r.read().decode()
    assert 'vdsm_tasks{state="running"} 0.0' in body


def test_other_paths_are_not_found(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(server.port, "/")
    assert e.value.code == 404


def test_a_taken_port_is_logged_not_raised(server, caplog):
    other = MetricsServer(server.registry, "127.0.0.1", server.port)
    assert other.start() is False
    assert "cannot serve metrics" in caplog.text
    other.stop()


def test_stop_closes_the_port():
    registry, _ = registry_for(Sources())
    srv = MetricsServer(registry, "127.0.0.1", 0)
    srv.start()
    port = srv.port
    srv.stop()
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
