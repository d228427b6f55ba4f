"""The guest's own fstrim, for sparsifyImage of a volume a running VM has
attached (issue 13).

A running image must never be rewritten by qemu-img, so the storage side
asks here instead: which VM on this host has the volume, and trim its
file systems through qemu-guest-agent (libvirt's ``fSTrim``). The VM's
drive must pass discards to the image (drive param ``discard: true``,
``<driver discard='unmap'/>``) for the freed blocks to leave the file.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import libvirt

from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.errors import NonResponsiveGuestAgent, UnsupportedOperation

log = logging.getLogger(__name__)


class GuestTrim:
    """What the storage side's sparsify uses for attached volumes;
    thread-safe (reads the registry, one libvirt call per trim)."""

    def __init__(self, ctx: VirtContext) -> None:
        self.ctx = ctx

    def holder(self, path: str, vol_uuid: str) -> str | None:
        """The id of a VM on this host, not Down, with a disk on ``path``
        (compared resolved) or on the volume ``vol_uuid``; None if none."""
        wanted = os.path.realpath(path)
        for vm in self.ctx.registry.all():
            if vm.is_down:
                continue
            for dev in vm.devices:
                if uses(dev, wanted, vol_uuid):
                    return vm.id
        return None

    def trim(self, vm_id: str) -> None:
        """fstrim every mounted file system of the guest, bounded by the
        guest agent timeout.

        Raises NonResponsiveGuestAgent (no agent, or it does not answer),
        UnsupportedOperation, NoSuchVM, VMIsDown."""
        vm = self.ctx.registry.get(vm_id)
        if vm.status not in st.RUNNING_STATES:
            raise UnsupportedOperation(f"Operation not supported: VM {vm_id} is "
                                       f"{vm.status}, its guest cannot trim")
        dom = vm.domain(self.ctx.conn.get())
        try:
            dom.agentSetResponseTimeout(max(1, int(self.ctx.guest_agent_timeout)), 0)
            dom.fSTrim(None, 0, 0)
        except libvirt.libvirtError as e:
            log.warning("vm %s: guest fstrim failed: %s", vm_id, e.get_error_message())
            if e.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                raise UnsupportedOperation(f"Operation not supported: "
                                           f"{e.get_error_message()}") from None
            raise NonResponsiveGuestAgent(f"Guest agent non-responsive: VM {vm_id} "
                                          f"cannot trim: {e.get_error_message()}"
                                          ) from None
        log.info("vm %s: guest file systems trimmed", vm_id)


def uses(dev: dict[str, Any], real_path: str, vol_uuid: str) -> bool:
    """Whether the device ``dev`` is a disk on the file or volume."""
    if dev.get("type") != "disk" or dev.get("device", "disk") != "disk":
        return False
    if vol_uuid and dev.get("volumeID") == vol_uuid:
        return True
    path = dev.get("path")
    return bool(path) and os.path.realpath(path) == real_path
