"""A domain monitor publishes its domain's state changes (no real storage:
the checks run on a fake domain, called directly)."""

from __future__ import annotations

from tests.eventrec import Raising, Recorder
from vdsm.storage.domains.monitor import DomainMonitorThread
from vdsm.storage.errors import AccessTimeout

SD = "9a4a3e0c-5c6e-4a3e-8f4b-1b2c3d4e5f60"


class _Domain:
    ids_path = "/nonexistent/ids"

    def __init__(self) -> None:
        self.broken = False

    def check(self) -> float:
        if self.broken:
            raise OSError("I/O error")
        return 0.001

    def read_metadata(self) -> dict:
        return {}

    def version(self, md: dict) -> int:
        return 5

    def stats(self) -> dict:
        return {"disktotal": "100", "diskfree": "50"}


class _Cache:
    def __init__(self, dom: _Domain) -> None:
        self.dom = dom

    def produce(self, sd_uuid: str) -> _Domain:
        return self.dom


def _monitor(dom: _Domain, publisher) -> DomainMonitorThread:
    return DomainMonitorThread(
        SD, cache=_Cache(dom), leases=None, host_id=None, interval=1,
        io_timeout=1, publisher=publisher,
        error_code=lambda e: 379 if isinstance(e, AccessTimeout) else 100)


def test_first_check_and_validity_changes_are_published():
    rec, dom = Recorder(), _Domain()
    monitor = _monitor(dom, rec)
    monitor._check()
    monitor._check()  # still valid: nothing new
    dom.broken = True
    monitor._check()
    monitor._check()
    dom.broken = False
    monitor._check()
    states = [p[SD] for p in rec.of(f"|storage|domain_state|{SD}")]
    assert [(s["valid"], s["code"]) for s in states] == [
        (True, 0), (False, 379), (True, 0)]
    assert states[0]["version"] == 5


def test_a_broken_publisher_does_not_stop_the_monitor():
    broken, dom = Raising(), _Domain()
    monitor = _monitor(dom, broken)
    monitor._check()
    assert monitor.status.valid and broken.calls == 1
