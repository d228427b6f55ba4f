"""Recovering VMs from libvirt after vdsmd restarts (even after SIGKILL).

Every domain carrying the agent's ``<metadata>`` is a VM of ours: its
definition comes from the metadata, its status from the domain state and
its devices from the live XML. Nothing is started or destroyed here.
Foreign domains (no metadata) are left alone.
"""

from __future__ import annotations

import logging

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.common.events import Publisher
from vdsm.virt import livemerge, vmparams
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import metadata
from vdsm.virt.migration import recovered as recovered_migrations
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import refresh_live

log = logging.getLogger(__name__)


def recover(ctx: VirtContext) -> list[Vm]:
    """Register every running domain of ours not yet known; the new VMs."""
    conn = ctx.conn.get()
    found = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        if ctx.registry.find(dom.UUIDString()) is not None:
            continue
        vm = _recover_one(dom, ctx.publisher)
        if vm is not None:
            ctx.registry.add(vm)
            recovered_migrations.adopt(ctx, vm, dom)
            livemerge.adopt(ctx, vm, dom)
            found.append(vm)
    if found:
        log.info("recovered %d VM(s): %s", len(found),
                 ", ".join(f"{vm.id} ({vm.status})" for vm in found))
    return found


def _recover_one(dom: libvirt.virDomain, publisher: Publisher) -> Vm | None:
    uuid = dom.UUIDString()
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                            metadata.NAMESPACE, 0)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            log.debug("domain %s is not ours; left alone", uuid)
        else:
            log.warning("domain %s: cannot read metadata: %s", uuid,
                        e.get_error_message())
        return None
    try:
        saved = metadata.read(text)
        if saved is None:
            return None
        vmdef = vmparams.parse(saved["conf"])
        state, reason = dom.state()
    except (ValueError, VdsmError, libvirt.libvirtError) as e:
        log.error("domain %s: cannot recover: %s", uuid, e)
        return None
    vm = Vm(vmdef, status=st.from_domain_state(state),
            start_time=saved["startTime"], conf=saved["conf"],
            publisher=publisher)
    if state == st.DOM_PAUSED and reason == st.PAUSED_IOERROR:
        vm.pause_code = _pause_code(dom)
    refresh_live(vm, dom)
    return vm


def _pause_code(dom: libvirt.virDomain) -> str:
    """Why a recovered domain is paused on an I/O error: a thin disk that
    ran out of space (ENOSPC) is resumed by the volume monitor once
    extended."""
    try:
        return st.pause_code_from_disk_errors(dom.diskErrors())
    except libvirt.libvirtError as e:
        log.warning("domain %s: cannot read its disk errors: %s", dom.UUIDString(),
                    e.get_error_message())
        return st.PAUSE_EOTHER


def resync(ctx: VirtContext) -> None:
    """After libvirtd came back: statuses from libvirt, lost VMs Down."""
    conn = ctx.conn.get()
    for vm in ctx.registry.all():
        if vm.is_down:
            continue
        try:
            state, _ = conn.lookupByUUIDString(vm.id).state()
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                vm.fail(st.LIBVIRT_DOMAIN_MISSING,
                        st.EXIT_MESSAGES[st.LIBVIRT_DOMAIN_MISSING])
            continue
        new = st.from_domain_state(state)
        if vm.status in st.RUNNING_STATES | {st.PAUSED} and new != vm.status:
            vm.set_status(new)
    recover(ctx)
