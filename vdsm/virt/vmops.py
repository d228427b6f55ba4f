"""Small steps every VM operation shares: the running domain, hooks, and
the facts read back from the live XML."""

from __future__ import annotations

import logging

import libvirt
from lxml import etree

from vdsm.common.errors import HookError
from vdsm.virt import drives
from vdsm.virt.context import VirtContext
from vdsm.virt.devices import GUEST_AGENT_CHANNEL
from vdsm.virt.domxml import metadata, parse
from vdsm.virt.errors import VMExists, VMIsDown
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)


def running_domain(ctx: VirtContext, vm: Vm) -> libvirt.virDomain:
    """The VM's domain; VMIsDown when the VM is Down or libvirt has none."""
    if vm.is_down:
        raise VMIsDown(f"Virtual machine is down: {vm.id}")
    return vm.domain(ctx.conn.get())


def check_no_domain(ctx: VirtContext, vm_id: str) -> None:
    """VMExists when libvirt already has a domain with this UUID."""
    try:
        ctx.conn.get().lookupByUUIDString(vm_id)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return
        raise
    raise VMExists(f"Virtual machine already exists: libvirt has a domain "
                   f"with UUID {vm_id}")


def run_hook(ctx: VirtContext, vm: Vm, point: str, xml: str | None) -> str | None:
    """Run a hook point with the VM's custom properties; returns the XML
    as the scripts left it. Raises HookError per the point's policy."""
    return ctx.hooks.run(point, xml, custom=vm.vmdef.custom, vm_id=vm.id)


def refresh_live(vm: Vm, dom: libvirt.virDomain) -> None:
    """Read what libvirt allocated (ports, names, media) from the live XML."""
    try:
        xml = dom.XMLDesc(0)
    except libvirt.libvirtError as e:
        log.warning("vm %s: cannot read live XML: %s", vm.id,
                    e.get_error_message())
        return
    vm.live = {"xml": xml, "graphics": parse.graphics(xml),
               "interfaces": parse.interfaces(xml), "disks": parse.disks(xml)}
    vm.agent_connected = parse.agent_connected(xml, GUEST_AGENT_CHANNEL)


def release(ctx: VirtContext, vm: Vm) -> None:
    """Once per VM, when it is Down: free its drives, run after_vm_destroy."""
    with vm.lock:
        if vm.released:
            return
        vm.released = True
    drives.teardown(vm.devices, resolver=ctx.resolver)
    try:
        run_hook(ctx, vm, "after_vm_destroy", vm.live.get("xml"))
    except HookError as e:
        log.warning("vm %s: after_vm_destroy: %s", vm.id, e.message)



def persist_conf(vm: Vm, dom: libvirt.virDomain) -> None:
    """Store the VM definition in the domain's metadata (for recovery)."""
    node = metadata.element_for(vm.conf, start_time=vm.start_time,
                                namespaced=False)
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                        etree.tostring(node, encoding="unicode"),
                        metadata.PREFIX, metadata.NAMESPACE,
                        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as e:
        log.error("vm %s: cannot update metadata: %s", vm.id,
                  e.get_error_message())
