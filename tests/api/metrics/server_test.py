"""The /metrics listener over a real socket: paths, format, port 0, stop."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from vdsm.api.metrics import MetricsServer, Sources, registry_for
from vdsm.api.metrics.server import MAX_CONCURRENT


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


def test_too_many_scrapes_at_once_are_turned_away(server):
    silent = []
    try:
        for _ in range(MAX_CONCURRENT):      # each holds a slot until closed
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            silent.append(s)
        deadline = time.monotonic() + 5
        while True:                          # the slots are taken in threads
            try:
                _get(server.port, "/metrics")
            except urllib.error.HTTPError as e:
                assert e.code == 503
                break
            assert time.monotonic() < deadline, "never turned away"
            time.sleep(0.05)
    finally:
        for s in silent:
            s.close()
    deadline = time.monotonic() + 5
    while True:                              # closed clients free their slots
        try:
            with _get(server.port, "/metrics") as r:
                assert r.status == 200
            break
        except urllib.error.HTTPError as e:
            assert e.code == 503 and time.monotonic() < deadline
            time.sleep(0.05)
