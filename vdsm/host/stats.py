"""Background sampling of host statistics (classic ``getVdsStats``).

One thread reads /proc and /sys every ``interval`` seconds and keeps the
figures computed between its last two samples; ``get()`` answers from that
memory without I/O, so a flood of stats calls costs nothing. A failed sample
is logged and the last good figures stay; the thread survives any error.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any, Callable

from vdsm.host import hoststats, procfs

log = logging.getLogger(__name__)

VM_KEYS = ("vmCount", "vmActive", "vmMigrating", "incomingVmMigrations",
           "outgoingVmMigrations")

# What get() says before start() or while no sample could be read.
_INITIAL = {"cpuUser": "0.00", "cpuSys": "0.00", "cpuIdle": "100.00",
            "cpuLoad": "0.00", "memUsed": "0", "network": {},
            "rxRate": "0.0", "txRate": "0.0", "cpuStatistics": {}}

# Hosted engine is not supported: report it as not configured.
_HA_STATS = {"configured": False, "active": False, "score": 0,
             "globalMaintenance": False, "localMaintenance": False}


def process_start_time() -> float:
    """When this process started, in seconds since the epoch."""
    boot = procfs.parse_stat(procfs.read_text(procfs.PROC_STAT)).boot_time
    ticks = procfs.parse_pid_start(procfs.read_text("/proc/self/stat"))
    return boot + ticks / hoststats.CLOCK_TICKS


class HostStatsSampler:
    """Samples host statistics in a thread; ``get()`` is thread-safe.

    ``vm_counts()`` returns any of VM_KEYS (and optionally ``memCommitted``
    in MiB, the memory promised to guests, which then replaces the kernel's
    Committed_AS figure); ``storage_stats()`` returns the
    ``storageDomains`` map. Both are called from the sampling thread once
    per interval, never from ``get()``; their errors are logged.
    """

    def __init__(self, interval: float, *,
                 vm_counts: Callable[[], dict] | None = None,
                 storage_stats: Callable[[], dict] | None = None) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive: {interval}")
        self._interval = interval
        self._vm_counts = vm_counts
        self._storage_stats = storage_stats
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats: dict[str, Any] = dict(_INITIAL)
        self._vms: dict[str, Any] = dict.fromkeys(VM_KEYS, 0)
        self._storage: dict[str, Any] = {}
        self._started = time.time()
        self._last_error = ""

    def start(self) -> None:
        """Take a first sample, then keep sampling in a thread.

        After start() every key is present (rates 0 until the next sample).
        Raises RuntimeError if already started.
        """
        if self._thread is not None:
            raise RuntimeError("host stats sampler already started")
        try:
            self._started = process_start_time()
        except (OSError, ValueError) as e:
            log.warning("cannot read process start time, using now: %s", e)
        ksmd_pid = self._find_ksmd()
        first = None
        try:
            first = hoststats.take_sample(ksmd_pid=ksmd_pid)
            self._stats = hoststats.compute(first, first)
        except Exception as e:  # the thread will keep trying
            self._log_failure("first host stats sample failed", e)
        self._thread = threading.Thread(target=self._run, args=(first, ksmd_pid),
                                        name="hoststats", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread, waiting at most ``timeout``; True if it ended."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("host stats thread did not stop in %.1fs", timeout)
            return False
        return True

    def wait_ready(self, timeout: float) -> bool:
        """Wait until figures over a whole interval exist (two samples)."""
        return self._ready.wait(timeout)

    def get(self) -> dict[str, Any]:
        """The latest figures plus clock-derived values; no I/O.

        A deep copy: callers (hooks) may change it freely.
        """
        now = time.time()
        with self._lock:  # the thread replaces these dicts, never edits them
            computed, vms, storage = self._stats, self._vms, self._storage
        stats = copy.deepcopy(computed)
        stats.update(vms)
        stats["storageDomains"] = copy.deepcopy(storage)
        stats["elapsedTime"] = str(int(now - self._started))
        stats["dateTime"] = time.strftime("%Y-%m-%dT%H:%M:%S GMT",
                                          time.gmtime(now))
        stats["haStats"] = dict(_HA_STATS)
        return stats

    def _run(self, first: hoststats.Sample | None,
             ksmd_pid: int | None) -> None:
        log.info("host stats sampling every %gs", self._interval)
        previous = first
        deadline = time.monotonic()
        while True:
            self._poll_callbacks()
            deadline += self._interval
            delay = deadline - time.monotonic()
            if delay < 0:  # fell behind (suspend, slow I/O): do not burst
                deadline, delay = time.monotonic(), 0
            if self._stop.wait(delay):
                break
            previous = self._sample(previous, ksmd_pid)
        log.info("host stats sampling stopped")

    def _find_ksmd(self) -> int | None:
        try:
            return procfs.find_pid("ksmd")
        except OSError as e:
            log.warning("cannot look for ksmd: %s", e)
            return None

    def _sample(self, previous: hoststats.Sample | None,
                ksmd_pid: int | None) -> hoststats.Sample | None:
        try:
            sample = hoststats.take_sample(ksmd_pid=ksmd_pid)
            if previous is not None:
                stats = hoststats.compute(previous, sample)
                with self._lock:
                    self._stats = stats
                self._ready.set()
            self._last_error = ""
            return sample
        except Exception as e:  # the thread must outlive any bad sample
            self._log_failure("host stats sample failed", e)
            return previous

    def _poll_callbacks(self) -> None:
        if self._vm_counts is not None:
            try:
                vms = dict.fromkeys(VM_KEYS, 0)
                vms.update(self._vm_counts())
                with self._lock:
                    self._vms = vms
            except Exception as e:
                self._log_failure("vm_counts failed", e)
        if self._storage_stats is not None:
            try:
                storage = dict(self._storage_stats())
                with self._lock:
                    self._storage = storage
            except Exception as e:
                self._log_failure("storage_stats failed", e)

    def _log_failure(self, what: str, error: Exception) -> None:
        """A traceback the first time, a short line while it repeats."""
        message = f"{what}: {error}"
        if message != self._last_error:
            log.exception("%s (keeping last good values)", what)
            self._last_error = message
        else:
            log.debug("%s", message)

