"""The destination half of a live migration: ``migrationCreate``.

The VM is checked and registered in status Migration Destination before
the domain arrives (so its libvirt events are ours), the
before_vm_migrate_destination hooks may edit the source's domain XML (the
edited XML goes back to the source, which hands it to libvirt), and a
waiter thread follows the incoming domain: running (or paused, for a VM
paused on the source) means the VM is here, Up with
after_vm_migrate_destination; a domain that never comes, or vanishes
after it came, means the migration failed (Down, MigrationFailed). A
refusal leaves nothing behind: no VM, no prepared drives, no slot.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import libvirt

from vdsm.common.errors import InvalidParameter, MissingParameter, VdsmError
from vdsm.host import memory
from vdsm.virt import drives, vmparams
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.errors import VMExists
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import check_no_domain, refresh_live, release, run_hook

log = logging.getLogger(__name__)

PRIVATE_KEYS = ("_srcDomXML", "startTime", "elapsedTimeOffset", "xml")
POLL = 0.1  # s between looks at the incoming domain
# the pause reasons of a domain still receiving its state
_INCOMING_PAUSE = (st.PAUSED_MIGRATION, st.PAUSED_STARTING_UP,
                   st.PAUSED_POSTCOPY)


class MigrationLimitExceeded(VdsmError):
    name = "MigrationLimitExceeded"
    default_message = "Incoming migration limit exceeded"


class OutOfMemory(VdsmError):
    name = "OutOfMemory"
    default_message = "Not enough free memory to create VM"


def migration_create(ctx: VirtContext, params: Any,
                     incoming_limit: int | None) -> dict[str, Any]:
    """Prepare for the incoming VM; answers the classic MigrationCreateState."""
    if not isinstance(params, dict):
        raise InvalidParameter("Invalid parameter: migrationCreate params "
                               "must be a struct")
    src_xml = params.get("_srcDomXML")
    if not src_xml:
        raise MissingParameter("Missing required parameter: migrationCreate "
                               "needs _srcDomXML (the source domain XML)")
    conf = {k: v for k, v in params.items() if k not in PRIVATE_KEYS}
    vmdef = vmparams.parse(conf)
    if ctx.registry.find(vmdef.vm_id) is not None:
        raise VMExists(f"Virtual machine already exists: {vmdef.vm_id}")
    check_no_domain(ctx, vmdef.vm_id)
    free = memory.free_mib(memory.read_meminfo())
    if free < vmdef.mem_mib:
        raise OutOfMemory(f"Not enough free memory to create VM: "
                          f"{vmdef.mem_mib} MiB asked, {free} MiB available")
    ctx.incoming.set_bound(incoming_limit)
    if not ctx.incoming.try_acquire():
        raise MigrationLimitExceeded(
            f"Incoming migration limit exceeded ({ctx.incoming.used} "
            f"incoming already)")
    start_time = params.get("startTime")
    vm = Vm(vmdef, status=st.MIGRATION_DESTINATION,
            start_time=float(start_time) if start_time else None,
            # the source's normalized definition; plain vmParams get theirs
            conf=conf if "devices" in conf else None,
            publisher=ctx.publisher)
    try:
        ctx.registry.add(vm)
    except VMExists:
        ctx.incoming.release()
        raise
    vm.publish_status()
    try:
        drives.prepare(vm.devices, resolver=ctx.resolver)
        edited = run_hook(ctx, vm, "before_vm_migrate_destination", src_xml)
    except VdsmError as e:
        log.error("vm %s: refusing the incoming migration: %s", vm.id,
                  e.message)
        vm.fail(st.MIGRATION_FAILED, f"Destination refused: {e.message}")
        release(ctx, vm)
        ctx.registry.remove(vm)
        ctx.incoming.release()
        raise
    threading.Thread(target=follow_incoming, args=(ctx, vm), daemon=True,
                     name=f"migdst-{vm.id[:8]}").start()
    answer = vm.definition()
    answer["xml"] = edited or src_xml
    log.info("vm %s: ready for the incoming migration", vm.id)
    return {"migrationPort": 0, "params": answer}


def _arrived(ctx: VirtContext, vm_id: str) -> tuple[libvirt.virDomain | None, str]:
    """(domain, "" | "running" | "paused" | "incoming") as libvirt sees it."""
    try:
        dom = ctx.conn.get().lookupByUUIDString(vm_id)
        state, reason = dom.state()
    except libvirt.libvirtError as e:
        if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            log.debug("vm %s: incoming domain: %s", vm_id, e.get_error_message())
        return None, ""
    if state == st.DOM_RUNNING:
        return dom, "running"
    if state == st.DOM_PAUSED and reason not in _INCOMING_PAUSE:
        return dom, "paused"
    return dom, "incoming"


def follow_incoming(ctx: VirtContext, vm: Vm) -> None:
    """The waiter thread: holds an incoming slot until the VM is settled."""
    try:
        wait_incoming(ctx, vm, ctx.migration.destination_timeout)
    finally:
        ctx.incoming.release()
        if vm.is_down:
            release(ctx, vm)


def wait_incoming(ctx: VirtContext, vm: Vm, timeout: float) -> None:
    """Follow the incoming domain until it runs, vanishes or times out."""
    deadline = time.monotonic() + timeout
    seen = False
    while time.monotonic() < deadline:
        if vm.status != st.MIGRATION_DESTINATION:
            return   # destroyed by the source, or Down by an event
        dom, where = _arrived(ctx, vm.id)
        if where in ("running", "paused"):
            _landed(ctx, vm, dom, st.UP if where == "running" else st.PAUSED)
            return
        if dom is None and seen:
            vm.fail(st.MIGRATION_FAILED, "The incoming migration failed "
                    "(the domain went away before it ran)")
            return
        seen = seen or dom is not None
        vm.wait_status((st.DOWN,), POLL)
    log.error("vm %s: no incoming domain ran in %.0f s; giving it up", vm.id,
              timeout)
    dom, _ = _arrived(ctx, vm.id)
    if dom is not None:
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            log.warning("vm %s: cannot destroy the incoming domain: %s",
                        vm.id, e.get_error_message())
    vm.fail(st.MIGRATION_FAILED, f"The incoming migration did not complete "
            f"in {timeout:.0f} s")


def _landed(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain, status: str) -> None:
    refresh_live(vm, dom)
    if not vm.set_status(status, only_from=(st.MIGRATION_DESTINATION,)):
        return
    log.info("vm %s: incoming migration done; %s here", vm.id, status)
    try:
        run_hook(ctx, vm, "after_vm_migrate_destination", vm.live.get("xml"))
    except VdsmError as e:
        log.warning("vm %s: after_vm_migrate_destination: %s", vm.id, e.message)
