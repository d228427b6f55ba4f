"""The guest agent poller: guest facts on their own, slower schedule.

qemu-guest-agent calls go through libvirt and hold the domain's agent
job until the guest answers, so they never run in the bulk sampler's or
an API thread: each VM gets at most one call thread at a time, libvirt's
agent response timeout is set short for it, and the answers are cached
in ``vm.guest_info`` (merged into the VM's stats). A guest whose agent
does not answer is marked and asked again only after a growing back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import libvirt

from vdsm.common.periodic import Periodic
from vdsm.virt import guestinfo
from vdsm.virt.context import VirtContext
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # seconds between tries at a silent agent, at most


class GuestAgentPoller:
    def __init__(self, ctx: VirtContext, *, interval: float,
                 timeout: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._asking: set[str] = set()
        self._silent: dict[str, tuple[float, float]] = {}  # id -> (next, wait)
        self._periodic: Periodic | None = None

    def start(self) -> None:
        self._periodic = Periodic("guest-agent-poller", self.interval, self.poll_once)
        self._periodic.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._periodic is not None:
            self._periodic.stop(timeout)

    def poll_once(self) -> None:
        """Start a call thread for every VM due; never waits for one."""
        if not self.ctx.conn.connected:
            return
        conn = self.ctx.conn.get()
        now = time.monotonic()
        vms = self.ctx.registry.all()
        with self._lock:   # forget the marks of VMs gone or disconnected
            live = {vm.id for vm in vms
                    if not vm.is_down and vm.agent_connected}
            self._silent = {k: v for k, v in self._silent.items() if k in live}
        for vm in vms:
            if vm.id not in live:
                vm.guest_info = {}
                continue
            with self._lock:
                retry_at, wait = self._silent.get(vm.id, (0.0, 0.0))
                # a guest whose agent (re)connected since it was marked
                # silent (started, or arrived by migration) is asked at once
                due = retry_at <= now or vm.agent_connected_at > retry_at - wait
                if not due or vm.id in self._asking:
                    continue
                self._asking.add(vm.id)
            threading.Thread(target=self._ask, args=(conn, vm), daemon=True,
                             name="guest-agent-call").start()

    def is_silent(self, vm_id: str) -> bool:
        with self._lock:
            return vm_id in self._silent

    def _ask(self, conn: libvirt.virConnect, vm: Vm) -> None:
        try:
            dom = conn.lookupByUUIDString(vm.id)
            timeout = max(1, int(self.timeout))
            dom.agentSetResponseTimeout(timeout, 0)
            info = guestinfo.collect(dom)
            version = guestinfo.agent_version(dom, timeout) if info else None
            if version:
                info["appsList"] = [f"qemu-guest-agent-{version}"]
        except libvirt.libvirtError as e:
            log.debug("vm %s: guest agent: %s", vm.id, e.get_error_message())
            info = {}
        finally:
            with self._lock:
                self._asking.discard(vm.id)
        self._record(vm, info)

    def _record(self, vm: Vm, info: dict[str, Any]) -> None:
        """Cache an answer, or back off from a guest that gave none."""
        with self._lock:
            if info:
                if self._silent.pop(vm.id, None) is not None:
                    log.info("vm %s: guest agent answers again", vm.id)
                vm.guest_info = info
                return
            _, wait = self._silent.get(vm.id, (0.0, self.interval))
            wait = min(MAX_BACKOFF, wait * 2)
            if vm.id not in self._silent:
                log.warning("vm %s: guest agent does not answer; retrying "
                            "every %.0f s at most", vm.id, MAX_BACKOFF)
            self._silent[vm.id] = (time.monotonic() + wait, wait)
            vm.guest_info = {}
