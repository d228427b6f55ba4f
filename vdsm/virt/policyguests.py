"""The running VMs as the host's policy engine sees and steers them.

Records come from memory only (the bulk sampler's latest balloon and
memory figures, the definition's ``memGuaranteedSize`` and I/O policies),
so a cycle never waits for a QEMU. Actions go through the same paths as
the verbs: the balloon through :func:`guestops.set_balloon_target`, I/O
limits through :func:`qos.set_io_tune` (guaranteed or maximum of each
drive's ``updateVmPolicy`` ioTune policy). Thread-safe.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vdsm.virt import guestops, qos
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext

log = logging.getLogger(__name__)


def record(vm: Any, io_choice: str | None) -> dict[str, Any] | None:
    """One VM's figures in KiB (None when the VM is not Up or its balloon
    was never sampled): pure, over the VM's memory."""
    if vm.status != st.UP:
        return None
    sample = vm.sample or {}
    info = sample.get("balloonInfo")
    if not info:
        return None
    cur, high = int(info["balloon_cur"]), int(info["balloon_max"])
    guaranteed = int(vm.conf.get("memGuaranteedSize") or 0) * 1024
    mem = sample.get("memoryStats") or {}
    unused = int(mem["mem_unused"]) if "mem_unused" in mem else None
    used = None
    if unused is not None and "mem_total" in mem:
        used = max(0, int(mem["mem_total"]) - unused
                   - int(mem.get("mem_cached", 0)))
    target = vm.balloon_target if vm.balloon_target is not None else high
    return {"id": vm.id, "balloon_cur": cur, "balloon_max": high,
            "balloon_min": min(guaranteed, high), "balloon_target": target,
            "mem_unused": unused, "mem_used": used,
            "io_policy": int(bool(qos.state(vm).get("ioTunePolicy"))),
            "io_choice": io_choice, "vcpu_limit": qos.state(vm).get("vcpuLimit")}


class PolicyGuests:
    """:class:`vdsm.host.policy.engine.Guests` over the VM registry."""

    def __init__(self, ctx: VirtContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._io_choice: dict[str, str] = {}

    def records(self) -> list[dict[str, Any]]:
        vms = self._ctx.registry.all()
        with self._lock:
            alive = {vm.id for vm in vms}
            for gone in set(self._io_choice) - alive:
                del self._io_choice[gone]
            choices = dict(self._io_choice)
        return [r for vm in vms if (r := record(vm, choices.get(vm.id)))]

    def set_balloon_target(self, vm_id: str, kib: int) -> None:
        """Raises BalloonError, VMIsDown, NoSuchVM."""
        guestops.set_balloon_target(self._ctx, self._vm(vm_id), kib)

    def set_io_choice(self, vm_id: str, choice: str) -> None:
        """Apply each drive's ``choice`` (guaranteed/maximum) limits;
        raises UpdateIOTuneError (nothing changed), VMIsDown, NoSuchVM."""
        vm = self._vm(vm_id)
        policies = qos.state(vm).get("ioTunePolicy") or {}
        items = [{"name": name, "ioTune": policy[choice]}
                 for name, policy in sorted(policies.items())]
        if items:
            qos.set_io_tune(self._ctx, vm, items)
        with self._lock:
            self._io_choice[vm_id] = choice

    def _vm(self, vm_id: str) -> Any:
        return self._ctx.registry.get(vm_id)
