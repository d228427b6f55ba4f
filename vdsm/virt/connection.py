"""A libvirt connection that comes back by itself when libvirtd restarts.

The connection is passed to whatever needs libvirt (never imported as a
global), so tests hand in a private daemon's URI. Domain events are
registered on every (re)connection and handed to one callback;
``on_reconnect`` runs after a lost connection is re-established so the
owner can resynchronize its state. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import libvirt

from vdsm.common.errors import ResourceUnavailable
from vdsm.virt import events

log = logging.getLogger(__name__)

# (kind, vm_uuid, args...) with kind in: lifecycle, io_error, agent, removed,
# job_completed, block_threshold
EventHandler = Callable[..., None]

KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3


class LibvirtUnavailable(ResourceUnavailable):
    default_message = "libvirt is not reachable"


class Connection:
    def __init__(self, uri: str, *, on_event: EventHandler,
                 on_reconnect: Callable[[], None] | None = None,
                 retry_interval: float = 1.0) -> None:
        self.uri = uri
        self._on_event = on_event
        self._on_reconnect = on_reconnect
        self._retry_interval = retry_interval
        self._lock = threading.Lock()
        self._conn: libvirt.virConnect | None = None
        self._callbacks: list[int] = []
        self._stop = threading.Event()
        self._reconnector: threading.Thread | None = None

    # --- public --------------------------------------------------------
    def open(self) -> None:
        """Connect now; raises LibvirtUnavailable with libvirt's reason."""
        events.start()
        try:
            self._connect()
        except libvirt.libvirtError:
            events.stop()
            raise

    def open_in_background(self) -> None:
        """Keep trying to connect in a thread (libvirtd not up yet)."""
        events.start()
        self._start_reconnector()

    def get(self) -> libvirt.virConnect:
        """The live connection; LibvirtUnavailable while reconnecting."""
        with self._lock:
            conn = self._conn
        if conn is None:
            raise LibvirtUnavailable(f"libvirt at {self.uri} is not connected "
                                     "(reconnecting)")
        return conn

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._conn is not None

    def close(self) -> None:
        self._stop.set()
        if self._reconnector is not None:
            self._reconnector.join(10)
        with self._lock:
            conn, self._conn = self._conn, None
            callbacks, self._callbacks = self._callbacks, []
        if conn is not None:
            for cb_id in callbacks:
                _ignore(conn.domainEventDeregisterAny, cb_id)
            _ignore(conn.unregisterCloseCallback)
            _ignore(conn.close)
        events.stop()

    # --- internals -----------------------------------------------------
    def _connect(self) -> None:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as e:
            raise LibvirtUnavailable(
                f"cannot connect to libvirt at {self.uri}: "
                f"{e.get_error_message()}") from e
        conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        conn.registerCloseCallback(self._closed, None)
        ids = [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                self._lifecycle, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                self._io_error, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                self._agent, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                self._removed, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                self._job_completed, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD,
                self._block_threshold, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                self._block_job, None),
        ]
        with self._lock:
            self._conn = conn
            self._callbacks = ids
        log.info("connected to libvirt at %s", self.uri)

    def _closed(self, conn: Any, reason: int, opaque: Any) -> None:
        log.warning("libvirt connection to %s closed (reason %s)", self.uri,
                    reason)
        with self._lock:
            if self._conn is not conn:
                return
            self._conn = None
            self._callbacks = []
        self._start_reconnector()

    def _start_reconnector(self) -> None:
        if self._stop.is_set():
            return
        self._reconnector = threading.Thread(
            target=self._reconnect, name="libvirt-reconnect", daemon=True)
        self._reconnector.start()

    def _reconnect(self) -> None:
        while not self._stop.wait(self._retry_interval):
            try:
                self._connect()
            except LibvirtUnavailable as e:
                log.debug("still cannot reconnect: %s", e)
                continue
            if self._on_reconnect is not None:
                try:
                    self._on_reconnect()
                except Exception:
                    log.exception("resynchronizing after reconnection failed")
            return

    # Event callbacks run on the event loop thread: hand over, return.
    def _lifecycle(self, conn: Any, dom: Any, event: int, detail: int,
                   opaque: Any) -> None:
        self._on_event("lifecycle", dom.UUIDString(), event, detail)

    def _io_error(self, conn: Any, dom: Any, src: str, alias: str,
                  action: int, reason: str, opaque: Any) -> None:
        self._on_event("io_error", dom.UUIDString(), alias, action, reason)

    def _agent(self, conn: Any, dom: Any, state: int, reason: int,
               opaque: Any) -> None:
        self._on_event("agent", dom.UUIDString(), state, reason)

    def _removed(self, conn: Any, dom: Any, alias: str, opaque: Any) -> None:
        self._on_event("removed", dom.UUIDString(), alias)

    def _job_completed(self, conn: Any, dom: Any, params: dict[str, Any],
                       opaque: Any) -> None:
        self._on_event("job_completed", dom.UUIDString(), params)

    def _block_threshold(self, conn: Any, dom: Any, dev: str, path: str,
                         threshold: int, excess: int, opaque: Any) -> None:
        self._on_event("block_threshold", dom.UUIDString(), dev, threshold,
                       excess)

    def _block_job(self, conn: Any, dom: Any, disk: str, job_type: int,
                   status: int, opaque: Any) -> None:
        self._on_event("block_job", dom.UUIDString(), disk, job_type, status)


def _ignore(func: Callable[..., Any], *args: Any) -> None:
    """Best-effort cleanup on a connection that may already be dead."""
    try:
        func(*args)
    except libvirt.libvirtError as e:
        log.debug("cleanup call %s failed: %s", getattr(func, "__name__", func),
                  e.get_error_message())
