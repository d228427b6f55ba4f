"""Operations inside the guest: file system freeze/thaw (qemu-guest-agent
through libvirt), the balloon target, and the desktop commands of the
oVirt guest agent (its channel, ovirtagent.py).

Each call is bounded: libvirt's agent response timeout is set to the
guest agent timeout before a freeze or thaw, and a desktop command is
one write with the channel's timeout. Errors carry the classic names.
"""

from __future__ import annotations

import logging
from typing import Callable

import libvirt

from vdsm.virt.context import VirtContext
from vdsm.virt.errors import (
    BalloonError,
    FreezeGuestFSFailed,
    NonResponsiveGuestAgent,
    ThawGuestFSFailed,
    UnsupportedOperation,
)
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)


def freeze(ctx: VirtContext, vm: Vm) -> int:
    """Freeze the guest's file systems; the number frozen.

    Raises NonResponsiveGuestAgent, UnsupportedOperation,
    FreezeGuestFSFailed, VMIsDown.
    """
    return _fs_call(ctx, vm, lambda dom: dom.fsFreeze(), FreezeGuestFSFailed,
                    "frozen")


def thaw(ctx: VirtContext, vm: Vm) -> int:
    """Thaw the guest's file systems; the number thawed. Raises as freeze
    does, with ThawGuestFSFailed."""
    return _fs_call(ctx, vm, lambda dom: dom.fsThaw(), ThawGuestFSFailed,
                    "thawed")


def _fs_call(ctx: VirtContext, vm: Vm, call: Callable[[libvirt.virDomain], int],
             failed: type[FreezeGuestFSFailed] | type[ThawGuestFSFailed],
             done: str) -> int:
    """One guest file system call through qemu-ga, bounded by the guest
    agent timeout; the number of file systems it handled."""
    dom = vm.domain(ctx.conn.get())
    try:
        dom.agentSetResponseTimeout(max(1, int(ctx.guest_agent_timeout)), 0)
        count = call(dom)
    except libvirt.libvirtError as e:
        raise _agent_error(e, failed) from None
    log.info("vm %s: %d guest file systems %s", vm.id, count, done)
    return count


def _agent_error(e: libvirt.libvirtError,
                 failed: type[FreezeGuestFSFailed] | type[ThawGuestFSFailed]
                 ) -> Exception:
    message = e.get_error_message()
    code = e.get_error_code()
    log.warning("guest file system operation failed: %s", message)
    if code == libvirt.VIR_ERR_AGENT_UNRESPONSIVE:
        return NonResponsiveGuestAgent(f"Guest agent non-responsive: {message}")
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return UnsupportedOperation(f"Operation not supported: {message}")
    return failed(f"{failed.default_message}: {message}")


def set_balloon_target(ctx: VirtContext, vm: Vm, target: int | str) -> None:
    """Ask the balloon for ``target`` KiB of guest memory (live only).

    Raises BalloonError (bad target, no balloon, above the maximum),
    VMIsDown.
    """
    try:
        kib = int(target)
    except (TypeError, ValueError):
        raise BalloonError("Balloon operation is not available: an integer "
                           f"is required for target, not {target!r}") from None
    if kib <= 0:
        raise BalloonError(f"Balloon operation is not available: target "
                           f"{kib} KiB is not positive")
    dom = vm.domain(ctx.conn.get())
    try:
        dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as e:
        raise BalloonError(f"Balloon operation is not available: "
                           f"{e.get_error_message()}") from None
    vm.balloon_target = kib
    log.info("vm %s: balloon target %d KiB", vm.id, kib)


def desktop_command(ctx: VirtContext, vm: Vm, name: str,
                    args: dict[str, str] | None = None) -> None:
    """One command to the oVirt guest agent; raises NonResponsiveGuestAgent
    when the guest runs none (or it stopped answering), VMIsDown."""
    vm.domain(ctx.conn.get())
    if ctx.ovirt_agents is None:
        raise NonResponsiveGuestAgent("Guest agent non-responsive: no oVirt "
                                      "guest agent channels on this host")
    ctx.ovirt_agents.send(vm.id, name, args)


def login_name(domain: str, username: str) -> str:
    """The classic user@domain form of the login command."""
    return f"{username}@{domain}" if domain else username
