"""Domain monitoring: one thread per domain, answering repoStats from memory.

Each monitor reads its domain's metadata through the domain's I/O helper
process (a dead server blocks the helper, not the agent) every
``interval`` seconds, records how long the read took (``delay``), the
domain version and space, and keeps the host id acquired when it has one.
``lastCheck`` is the time since the last check that *completed*: while
storage hangs no check completes, so it keeps growing, and the domain is
reported invalid once a check is overdue by more than the I/O timeout.

A monitor publishes ``|storage|domain_state|<sdUUID>`` with
``{sdUUID: {"valid", "code", "delay", "version"}}`` after its first check
and whenever the domain's validity changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.common.events import NullPublisher, Publisher, event_id, publish_safely
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.errors import AccessTimeout
from vdsm.storage.leases.manager import LeaseManager

log = logging.getLogger(__name__)

ErrorCode = Callable[[BaseException], int]


def _no_code(error: BaseException) -> int:
    return 1


@dataclass(frozen=True)
class DomainStatus:
    error: VdsmError | None = None
    check_time: float = 0.0     # time.monotonic() of the last completed check
    delay: float = 0.0
    version: int = -1
    acquired: bool = False
    actual: bool = False
    disk_total: int = 0
    disk_free: int = 0

    @property
    def valid(self) -> bool:
        return self.error is None


class DomainMonitorThread:
    def __init__(self, sd_uuid: str, *, cache: DomainCache, leases: LeaseManager,
                 host_id: int | None, interval: float, io_timeout: float,
                 publisher: Publisher | None = None,
                 error_code: ErrorCode = _no_code) -> None:
        self.sd_uuid = sd_uuid
        self._publisher = publisher if publisher is not None else NullPublisher()
        self._error_code = error_code
        self._published: bool | None = None  # validity last published
        self.cache = cache
        self.leases = leases
        self.host_id = host_id
        self.interval = interval
        self.io_timeout = io_timeout
        self._status = DomainStatus(check_time=time.monotonic())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"monitor/{sd_uuid[:8]}")
        self._started = time.monotonic()

    @property
    def status(self) -> DomainStatus:
        return self._status

    @status.setter
    def status(self, new: DomainStatus) -> None:
        """Only the monitor thread sets it; readers see whole values."""
        self._status = new
        if new.actual and new.valid is not self._published:
            self._published = new.valid
            code = 0 if new.error is None else self._error_code(new.error)
            publish_safely(
                self._publisher, event_id("storage", "domain_state", self.sd_uuid),
                {self.sd_uuid: {"valid": new.valid, "code": code,
                                "delay": f"{new.delay:.6f}",
                                "version": new.version}})

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, release_host_id: bool = True, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self.host_id is not None and release_host_id:
            try:
                dom = self.cache.produce(self.sd_uuid)
                self.leases.release_host_id(self.sd_uuid, self.host_id,
                                            dom.ids_path, wait=True)
            except VdsmError as e:
                log.warning("cannot release host id on %s: %s", self.sd_uuid, e)

    def _run(self) -> None:
        log.info("monitoring domain %s (host id %s)", self.sd_uuid, self.host_id)
        while not self._stop.is_set():
            try:
                self._check()
            except Exception:  # a monitor must survive anything and go on
                log.exception("monitor of %s failed", self.sd_uuid)
            self._stop.wait(self.interval)
        log.info("stopped monitoring domain %s", self.sd_uuid)

    def _check(self) -> None:
        now = time.monotonic()
        try:
            dom = self.cache.produce(self.sd_uuid)
        except VdsmError as e:
            self.status = replace(self.status, error=e, check_time=now, actual=True)
            return
        ops = getattr(dom, "ops", None)
        if getattr(ops, "pending", 0):
            # A previous call is still stuck in the domain's helper: do not
            # pile up more; the check is overdue.
            self._overdue(now)
            return
        try:
            delay = dom.check()
            md = dom.read_metadata()
            version = dom.version(md)
            space = dom.stats()
        except AccessTimeout:
            self._overdue(time.monotonic())
            return
        except (VdsmError, OSError) as e:
            error = e if isinstance(e, VdsmError) else AccessTimeout(f"{e}")
            self.status = replace(self.status, error=error, actual=True,
                                  check_time=time.monotonic())
            return
        acquired = self._host_id(dom.ids_path)
        self.status = DomainStatus(
            error=None, check_time=time.monotonic(), delay=delay, version=version,
            acquired=acquired, actual=True, disk_total=int(space["disktotal"]),
            disk_free=int(space["diskfree"]))

    def _overdue(self, now: float) -> None:
        if now - self.status.check_time > self.io_timeout:
            self.status = replace(self.status, actual=True, error=AccessTimeout(
                f"Storage domain {self.sd_uuid} is not responding"))

    def _host_id(self, ids_path: str) -> bool:
        if self.host_id is None:
            return False
        try:
            held = self.leases.has_host_id(self.sd_uuid, self.host_id, ids_path)
            if held is False:
                self.leases.acquire_host_id(self.sd_uuid, self.host_id, ids_path,
                                            wait=False)
            return bool(held)
        except VdsmError as e:
            log.warning("host id %s on %s: %s", self.host_id, self.sd_uuid, e)
            return False


class DomainMonitor:
    """The monitors of this host; thread-safe."""

    def __init__(self, cache: DomainCache, leases: LeaseManager, *,
                 interval: float, io_timeout: float,
                 publisher: Publisher | None = None,
                 error_code: ErrorCode = _no_code) -> None:
        """``publisher`` gets domain state changes, with ``error_code`` of
        the monitor's error as their code."""
        self.cache = cache
        self.publisher = publisher if publisher is not None else NullPublisher()
        self.error_code = error_code
        self.leases = leases
        self.interval = interval
        self.io_timeout = io_timeout
        self._lock = threading.Lock()
        self._monitors: dict[str, DomainMonitorThread] = {}
        self.pool_domains: set[str] = set()

    def start_monitoring(self, sd_uuid: str, host_id: int | None, *,
                         pool: bool = False) -> None:
        with self._lock:
            if pool:
                self.pool_domains.add(sd_uuid)
            current = self._monitors.get(sd_uuid)
            if current is not None and current.host_id == host_id:
                return
            monitor = DomainMonitorThread(
                sd_uuid, cache=self.cache, leases=self.leases, host_id=host_id,
                interval=self.interval, io_timeout=self.io_timeout,
                publisher=self.publisher, error_code=self.error_code)
            self._monitors[sd_uuid] = monitor
        if current is not None:
            current.stop(release_host_id=False)
        monitor.start()

    def stop_monitoring(self, sd_uuids: list[str], *,
                        release_host_id: bool = True) -> None:
        with self._lock:
            stopping = [self._monitors.pop(u) for u in sd_uuids if u in self._monitors]
            self.pool_domains.difference_update(sd_uuids)
        threads = [threading.Thread(target=m.stop, daemon=True,
                                    kwargs={"release_host_id": release_host_id})
                   for m in stopping]  # each release waits for sanlock
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    def monitored(self) -> list[str]:
        with self._lock:
            return sorted(self._monitors)

    def status(self) -> dict[str, DomainStatus]:
        with self._lock:
            return {u: m.status for u, m in self._monitors.items()}

    def has_host_id(self, sd_uuid: str) -> bool:
        with self._lock:
            monitor = self._monitors.get(sd_uuid)
        return monitor is not None and monitor.status.acquired

    def wait_for_host_id(self, sd_uuid: str, timeout: float) -> bool:
        """Wait (bounded) until the monitor reports the host id acquired."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.has_host_id(sd_uuid):
                return True
            time.sleep(0.2)
        return self.has_host_id(sd_uuid)

    def shutdown(self) -> None:
        self.stop_monitoring(self.monitored(), release_host_id=True)


def repo_stats(statuses: dict[str, DomainStatus],
               code_of: Any) -> dict[str, dict[str, Any]]:
    """The classic repoStats answer from monitor statuses."""
    now = time.monotonic()
    return {
        sd_uuid: {
            "code": 0 if st.error is None else code_of(st.error),
            "lastCheck": f"{now - st.check_time:.1f}",
            "delay": f"{st.delay:.6f}", "valid": st.valid, "version": st.version,
            "acquired": st.acquired, "actual": st.actual,
        } for sd_uuid, st in statuses.items()}
