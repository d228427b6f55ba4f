from __future__ import annotations

import socket
import threading
import time

import pytest

from vdsm.host import hoststats, stats

INTERVAL = 0.2


def _lo_traffic(nbytes: int) -> None:
    """Push nbytes through a TCP connection on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=5)
        conn, _ = server.accept()
        with client, conn:
            conn.settimeout(5)
            sender = threading.Thread(
                target=client.sendall, args=(b"x" * nbytes,))
            sender.start()
            received = 0
            while received < nbytes:
                received += len(conn.recv(1 << 20))
            sender.join(5)


def _wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s")


@pytest.fixture
def sampler():
    s = stats.HostStatsSampler(INTERVAL)
    s.start()
    yield s
    assert s.stop(timeout=5)


def test_first_sample_and_keys(sampler):
    assert sampler.wait_ready(5)
    info = sampler.get()
    for key in ("cpuUser", "cpuSys", "cpuIdle", "cpuLoad", "memUsed",
                "memFree", "memAvailable", "memCommitted", "memShared",
                "swapTotal", "swapFree", "network", "rxRate", "txRate",
                "elapsedTime", "bootTime", "vmCount", "vmActive",
                "vmMigrating", "ksmState", "ksmPages", "ksmCpu", "thpState",
                "storageDomains", "dateTime", "haStats", "cpuStatistics"):
        assert key in info, key
    assert float(info["cpuIdle"]) <= 100.0
    assert info["vmCount"] == 0 and info["storageDomains"] == {}
    assert info["dateTime"].endswith(" GMT")
    assert int(info["elapsedTime"]) >= 0
    lo = info["network"]["lo"]
    assert float(lo["rxRate"]) >= 0.0 and lo["rx"].isdigit()


def test_every_key_right_after_start():
    s = stats.HostStatsSampler(60.0)
    s.start()
    try:
        info = s.get()
        assert "lo" in info["network"] and info["memFree"] > 0
        assert info["network"]["lo"]["rxRate"] == "0.0"
        assert not s.wait_ready(0)  # no whole interval yet
    finally:
        assert s.stop(timeout=5)


def test_lo_counters_increase_with_traffic(sampler):
    assert sampler.wait_ready(5)
    before = int(sampler.get()["network"]["lo"]["rx"])
    _lo_traffic(8 * 1024 * 1024)
    after = _wait_for(
        lambda: int(sampler.get()["network"]["lo"]["rx"]) - before
        >= 8 * 1024 * 1024, timeout=5)
    assert after


def test_get_does_no_io(sampler, monkeypatch):
    assert sampler.wait_ready(5)

    def no_io(*args, **kwargs):
        raise AssertionError("get() read a file")

    monkeypatch.setattr("builtins.open", no_io)
    start = time.monotonic()
    for _ in range(1000):
        sampler.get()
    assert time.monotonic() - start < 1.0


def test_callbacks_feed_the_stats():
    s = stats.HostStatsSampler(
        INTERVAL,
        vm_counts=lambda: {"vmCount": 3, "vmActive": 2, "vmMigrating": 1},
        storage_stats=lambda: {"sd1": {"valid": True, "delay": "0.001"}})
    s.start()
    try:
        assert s.wait_ready(5)
        info = _wait_for(lambda: s.get()["vmCount"] == 3 and s.get(), 5)
        assert (info["vmActive"], info["vmMigrating"]) == (2, 1)
        assert info["incomingVmMigrations"] == 0
        assert info["storageDomains"]["sd1"]["valid"] is True
    finally:
        assert s.stop(timeout=5)


def test_failures_keep_last_values_and_thread(monkeypatch):
    real = hoststats.take_sample
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] in (3, 4):
            raise OSError("simulated /proc read failure")
        return real(**kwargs)

    def broken_counts():
        raise RuntimeError("vm container exploded")

    monkeypatch.setattr(hoststats, "take_sample", flaky)
    s = stats.HostStatsSampler(INTERVAL, vm_counts=broken_counts)
    s.start()
    try:
        assert s.wait_ready(5)
        _wait_for(lambda: calls["n"] >= 6, timeout=5)
        assert s._thread.is_alive()
        assert "lo" in s.get()["network"]
        assert s.get()["vmCount"] == 0
    finally:
        assert s.stop(timeout=5)


def test_stop_is_bounded_and_idempotent():
    s = stats.HostStatsSampler(60.0)  # would sleep a minute between samples
    s.start()
    start = time.monotonic()
    assert s.stop(timeout=5)
    assert time.monotonic() - start < 2.0
    assert s.stop(timeout=1)
    with pytest.raises(RuntimeError):
        s.start()


def test_get_before_first_sample():
    s = stats.HostStatsSampler(INTERVAL)
    info = s.get()
    assert info["cpuIdle"] == "100.00" and info["network"] == {}
    assert s.stop(timeout=1)
