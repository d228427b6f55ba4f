"""One VM: its definition, its status machine, and its libvirt domain.

Status changes come from two sides: the agent's own operations (start,
hibernate, shutdown...) and libvirt's lifecycle events, which are the
truth about what QEMU did. :meth:`Vm.on_lifecycle` is the status machine
for the events; operations set the transitional statuses and say which
exit reason they expect (``expected_exit``), so a STOPPED event caused by
the administrator is told apart from a guest powering itself off or a
QEMU that died.

Every status change is published (``|virt|VM_status|<vmId>``) from
:meth:`Vm.set_status`, the one place the status moves, under the status
lock so events leave in the order of the changes.

Thread-safe: ``lock`` serializes operations on the VM; the status has
its own lock and condition so readers never wait for an operation.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

import libvirt

from vdsm.common.events import NullPublisher, Publisher, event_id, publish_safely
from vdsm.virt import status as st
from vdsm.virt.errors import VMIsDown
from vdsm.virt.vmparams import VmDef

log = logging.getLogger(__name__)


class Vm:
    def __init__(self, vmdef: VmDef, *, status: str = st.WAIT_FOR_LAUNCH,
                 start_time: float | None = None,
                 conf: dict[str, Any] | None = None,
                 publisher: Publisher | None = None) -> None:
        self.id = vmdef.vm_id
        self._publisher = publisher if publisher is not None else NullPublisher()
        self.vmdef = vmdef
        self.conf = conf if conf is not None else vmdef.conf()
        self.lock = threading.RLock()
        self._cond = threading.Condition()
        self._status = status
        self.exit: st.ExitInfo | None = None
        self.pause_code = st.PAUSE_NONE
        self.expected_exit: int | None = None
        self.known_since = 0.0  # set by the registry (monotonic)
        self.destroying = False  # destroy asked: QEMU's SIGTERM is no power-down
        self.start_time = start_time if start_time is not None else time.time()
        self.agent_connected = False
        self.agent_connected_at = 0.0  # monotonic; the latest connect event
        self.released = False
        self.live: dict[str, Any] = {}   # facts read from the live XML
        self.sample: dict[str, Any] = {}  # latest computed statistics
        self.guest_info: dict[str, Any] = {}  # latest guest agent facts
        self.ovirt_agent_info: dict[str, Any] = {}  # oVirt agent's (ovirtagent.py)
        self.balloon_target: int | None = None  # KiB, set by setBalloonTarget
        self.unresponsive_since: float | None = None
        self.migration: Any = None  # the latest outgoing SourceMigration
        self.completed_job: dict[str, Any] = {}  # libvirt's last job figures
        self.thin_disks: dict[str, dict[str, str]] = {}  # volmonitor's, by target
        self.block_jobs: dict[str, Any] = {}  # livemerge.Merge, by job id
        self._io_reason: str | None = None
        self.log = logging.LoggerAdapter(log, {"vm_id": self.id})

    # --- status ----------------------------------------------------------
    @property
    def status(self) -> str:
        with self._cond:
            return self._status

    @property
    def is_down(self) -> bool:
        return self.status == st.DOWN

    def set_status(self, new: str, *, exit: st.ExitInfo | None = None,
                   only_from: tuple[str, ...] | None = None) -> bool:
        """Move to ``new`` (if the current status is in ``only_from``).

        Returns True when the status changed. Down is final: nothing moves
        a VM out of it.
        """
        with self._cond:
            old = self._status
            if old == st.DOWN or (only_from is not None and old not in only_from):
                return False
            if old == new and exit is None:
                return False
            self._status = new
            if new == st.DOWN:
                self.exit = exit or st.exit_info(st.GENERIC_ERROR)
            if new in (st.UP, st.POWERING_UP):
                self.pause_code = st.PAUSE_NONE
            self._cond.notify_all()
            self._publish_locked()
        log.info("vm %s: %s -> %s%s", self.id, old, new,
                 f" ({self.exit.message})" if new == st.DOWN and self.exit
                 else "")
        return True

    def publish_status(self) -> None:
        """Publish the current status (a new VM's WaitForLaunch)."""
        with self._cond:
            self._publish_locked()

    def _publish_locked(self) -> None:
        info: dict[str, Any] = {"status": self._status,
                                "elapsedTime": str(self.elapsed())}
        if self._status == st.DOWN and self.exit is not None:
            info.update(self.exit.as_stats())
        elif self._status == st.PAUSED:
            info["pauseCode"] = self.pause_code
        publish_safely(self._publisher, event_id("virt", "VM_status", self.id),
                       {self.id: info})

    def wait_status(self, wanted: tuple[str, ...], timeout: float) -> bool:
        """Wait (bounded) until the status is one of ``wanted``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._status in wanted, timeout)

    def on_lifecycle(self, event: int, detail: int) -> bool:
        """Apply a libvirt lifecycle event; True when the VM just went Down."""
        current = self.status
        # While WaitForLaunch or Restoring state the start thread owns the
        # status: it reads the live XML (ports, devices) before Up is seen.
        if event == st.EV_STARTED:
            self.set_status(st.PAUSED if self.vmdef.launch_paused else st.UP,
                            only_from=(st.POWERING_UP,))
        elif event == st.EV_RESUMED:
            self.set_status(st.UP, only_from=(st.PAUSED, st.POWERING_UP))
        elif event == st.EV_SUSPENDED:
            # saving, restoring and migrating pause the guest on the way;
            # the operation in charge sets the status
            if current in (st.SAVING_STATE, st.RESTORING_STATE,
                           st.MIGRATION_SOURCE, st.MIGRATION_DESTINATION):
                return False
            if detail in (st.SUSPENDED_IOERROR, st.SUSPENDED_API_ERROR):
                self.pause_code = st.pause_code(self._io_reason or "")
            self.set_status(st.PAUSED)
        elif event == st.EV_SHUTDOWN:
            if not self.destroying:
                self.set_status(st.POWERING_DOWN)
        elif event == st.EV_STOPPED:
            if current == st.MIGRATION_DESTINATION:
                return self.set_status(st.DOWN, exit=st.exit_info(
                    st.MIGRATION_FAILED, "The incoming migration failed"))
            reason = st.stopped_reason(detail, expected=self.expected_exit)
            return self.set_status(st.DOWN, exit=st.exit_info(reason))
        return False

    def on_io_error(self, alias: str, action: int, reason: str) -> None:
        self.log.warning("vm %s: I/O error on %s: %s (action %s)", self.id,
                         alias, reason, action)
        self._io_reason = reason
        if self.status == st.PAUSED:
            self.pause_code = st.pause_code(reason)

    def on_agent(self, state: int) -> None:
        self.agent_connected = \
            state == libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
        if self.agent_connected:
            self.agent_connected_at = time.monotonic()
        self.log.info("vm %s: guest agent %s", self.id,
                      "connected" if self.agent_connected else "disconnected")

    def fail(self, reason: int, message: str) -> None:
        self.set_status(st.DOWN, exit=st.exit_info(reason, message))

    # --- libvirt ---------------------------------------------------------
    def domain(self, conn: libvirt.virConnect) -> libvirt.virDomain:
        """The running domain; VMIsDown when libvirt has none."""
        try:
            return conn.lookupByUUIDString(self.id)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise VMIsDown(f"Virtual machine is down: {self.id}") from None
            raise

    # --- descriptions ----------------------------------------------------
    @property
    def devices(self) -> list[dict[str, Any]]:
        return self.conf["devices"]

    def definition(self) -> dict[str, Any]:
        """The classic VM definition (create/list fullStatus entry)."""
        conf = copy.deepcopy(self.conf)
        conf["status"] = self.status
        conf["startTime"] = self.start_time
        conf.update(self.display_info())
        if self.exit is not None and self.is_down:
            conf.update(self.exit.as_stats())
        return conf

    def display_info(self) -> dict[str, Any]:
        graphics = self.live.get("graphics") or []
        if not graphics:
            return {}
        first = graphics[0]
        return {
            "displayType": "vnc" if first["type"] == "vnc" else "qxl",
            "displayPort": str(first["port"]),
            "displaySecurePort": str(first["tlsPort"]),
            "displayIp": first["listen"] or "0",
            "displayInfo": [{"type": g["type"], "port": str(g["port"]),
                             "tlsPort": str(g["tlsPort"]),
                             "ipAddress": g["listen"] or "0"}
                            for g in graphics],
        }

    def elapsed(self) -> int:
        return max(0, int(time.time() - self.start_time))
