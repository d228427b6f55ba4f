"""The resource manager: shared/exclusive, fixed order, FIFO, timeouts."""

from __future__ import annotations

import random
import threading
import time

import pytest

from vdsm.storage import resources as rm
from vdsm.storage.errors import InvalidResourceName, ResourceTimeout


def req(name: str, mode: str = rm.EXCLUSIVE, ns: str = "01_img_x") -> rm.Request:
    return rm.Request(ns, name, mode)


def test_shared_locks_are_held_together():
    manager = rm.ResourceManager()
    with manager.acquire([req("a", rm.SHARED)]):
        with manager.acquire([req("a", rm.SHARED)], timeout=1):
            assert manager.holders("01_img_x", "a") == (rm.SHARED, 2)
    assert manager.holders("01_img_x", "a") == (None, 0)


def test_exclusive_excludes_and_times_out_holding_nothing():
    manager = rm.ResourceManager()
    with manager.acquire([req("b")]):
        start = time.monotonic()
        with pytest.raises(ResourceTimeout):
            with manager.acquire([req("a"), req("b")], timeout=0.3):
                pass
        assert 0.25 < time.monotonic() - start < 2
        # "a" was taken first (sorted order) and released on the timeout
        assert manager.holders("01_img_x", "a") == (None, 0)


def test_waiting_exclusive_is_not_overtaken_by_later_shared():
    manager = rm.ResourceManager()
    order = []
    first = manager.acquire([req("r", rm.SHARED)])
    first.__enter__()

    def writer() -> None:
        with manager.acquire([req("r")], timeout=5):
            order.append("writer")

    def reader() -> None:
        with manager.acquire([req("r", rm.SHARED)], timeout=5):
            order.append("reader")

    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.1)
    r = threading.Thread(target=reader)
    r.start()
    time.sleep(0.1)
    assert order == []  # the reader queues behind the waiting writer
    first.__exit__(None, None, None)
    w.join(5)
    r.join(5)
    assert order == ["writer", "reader"]


def test_same_resource_twice_is_taken_once_exclusive():
    manager = rm.ResourceManager()
    with manager.acquire([req("a", rm.SHARED), req("a", rm.EXCLUSIVE)], timeout=1):
        assert manager.holders("01_img_x", "a") == (rm.EXCLUSIVE, 1)


def test_bad_names_are_refused():
    with pytest.raises(InvalidResourceName):
        rm.Request("ns", "a/b")
    with pytest.raises(ValueError):
        rm.Request("ns", "a", "sometimes")


def test_race_many_threads_opposite_orders_no_deadlock_no_lost_update():
    """Threads lock {A, B} named in random orders and update two counters
    that must move together; fixed ordering prevents deadlock and the
    exclusive lock keeps every read-modify-write whole."""
    manager = rm.ResourceManager()
    counters = {"A": 0, "B": 0}
    errors = []

    def work() -> None:
        for _ in range(200):
            names = ["A", "B"]
            random.shuffle(names)
            try:
                with manager.acquire([req(n) for n in names], timeout=10):
                    a, b = counters["A"], counters["B"]
                    if a != b:
                        errors.append((a, b))
                    time.sleep(0)
                    counters["A"], counters["B"] = a + 1, b + 1
            except ResourceTimeout as e:
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors
    assert counters == {"A": 1600, "B": 1600}
