"""What the migration verbs see of an outgoing migration, whether this
agent started it (source.py) or found it running at start (recovered.py):
its phase, progress and result, and the limits it can change."""

from __future__ import annotations

import logging
import threading
from typing import Any

import libvirt

from vdsm.virt.context import VirtContext
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)

# phases, as migrateStatus reports them
QUEUED, PREPARING, MIGRATING, DONE, FAILED = (
    "queued", "preparing", "migrating", "done", "failed")


class OutgoingJob:
    def __init__(self, ctx: VirtContext, vm: Vm, *, phase: str,
                 message: str) -> None:
        self.ctx = ctx
        self.vm = vm
        self.phase = phase
        self.progress = 0
        self.figures: dict[str, Any] = {}
        self.result = (0, message)
        self.finished = threading.Event()

    @property
    def active(self) -> bool:
        return not self.finished.is_set()

    def stats(self) -> dict[str, Any]:
        code, message = self.result
        out = {"vmId": self.vm.id, "phase": self.phase,
               "status": {"code": code, "message": message},
               "progress": self.progress}
        out.update(self.figures)
        if self.phase == DONE and "downtime" in self.vm.completed_job:
            # what the guest was paused for, measured by libvirt
            out["downtime"] = int(self.vm.completed_job["downtime"])
        return out

    def set_limits(self, dom: libvirt.virDomain, *, bandwidth: int | None,
                   downtime: int | None) -> None:
        """The running job's bandwidth (MiB/s) and max downtime (ms)."""
        if bandwidth is not None:
            dom.migrateSetMaxSpeed(bandwidth, 0)
            log.info("vm %s: migration bandwidth now %d MiB/s", self.vm.id,
                     bandwidth)
        if downtime is not None:
            dom.migrateSetMaxDowntime(downtime, 0)
            log.info("vm %s: migration max downtime now %d ms", self.vm.id,
                     downtime)
