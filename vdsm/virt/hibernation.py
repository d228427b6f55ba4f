"""Hibernation: memory state saved to a file or volume, and restored.

``hibernate`` turns the VM to Saving State and saves it in the
background; libvirt's STOPPED/SAVED event then makes it Down with the
hibernation exit reason. ``create`` with ``restoreState`` restores the
image (whose XML carries the agent's metadata) and the guest carries on
where it stopped. The handle is a path, or the classic comma-separated
volume handle ``sdUUID,spUUID,imgUUID,volUUID[,...]`` resolved by the
storage subsystem.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import libvirt

from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.virt import drives
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import metadata, restored
from vdsm.virt.domxml.base import from_string
from vdsm.virt.errors import ImageFileNotFound
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import refresh_live, release, run_hook, running_domain
from vdsm.virt.vmparams import VmDef

log = logging.getLogger(__name__)


def handle_spec(handle: Any) -> Any:
    """A hibernation handle as a driveSpec (path or volume struct)."""
    if isinstance(handle, dict):
        return handle
    text = str(handle or "").strip()
    if not text:
        raise InvalidParameter("Invalid parameter: empty hibernation handle")
    if text.startswith("/"):
        return text
    parts = text.split(",")
    if len(parts) < 4:
        raise InvalidParameter(f"Invalid parameter: hibernation handle {text!r} "
                               "is neither a path nor sdUUID,spUUID,imgUUID,"
                               "volUUID")
    return dict(zip(drives.VOLUME_KEYS, parts[:4], strict=True))


def check_state(vmdef: VmDef, *, resolver: drives.DriveResolver | None) -> None:
    spec = handle_spec(vmdef.restore_state)
    if isinstance(spec, str):
        drives.resolve_spec(spec, resolver=resolver, must_exist=True)
    elif resolver is None:
        raise ImageFileNotFound("restoring from a volume needs the storage "
                                "subsystem")


def hibernate(ctx: VirtContext, vm: Vm, handle: Any) -> None:
    """Start saving the VM's memory state; raises VMIsDown."""
    spec = handle_spec(handle)
    path, _ = drives.resolve_spec(spec, resolver=ctx.resolver, must_exist=False)
    with vm.lock:
        running_domain(ctx, vm)
        previous = vm.status
        vm.set_status(st.SAVING_STATE)
        vm.expected_exit = st.SAVE_STATE_SUCCEEDED
    threading.Thread(target=_save, args=(ctx, vm, path, previous), daemon=True,
                     name=f"vm-hibernate-{vm.id[:8]}").start()


def _save(ctx: VirtContext, vm: Vm, path: str, previous: str) -> None:
    with vm.lock:
        try:
            dom = vm.domain(ctx.conn.get())
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
            edited = run_hook(ctx, vm, "before_vm_hibernate", xml)
            dom.saveFlags(path, edited if edited != xml else None, 0)
        except (libvirt.libvirtError, VdsmError) as e:
            message = (e.get_error_message() if isinstance(e, libvirt.libvirtError)
                       else e.message)
            log.error("vm %s: hibernation failed: %s", vm.id, message)
            vm.expected_exit = None
            vm.set_status(previous, only_from=(st.SAVING_STATE,))
            return
        log.info("vm %s: memory state saved to %s", vm.id, path)
        vm.set_status(st.DOWN, exit=st.exit_info(st.SAVE_STATE_SUCCEEDED))
    try:
        run_hook(ctx, vm, "after_vm_hibernate", vm.live.get("xml"))
    except VdsmError as e:
        log.warning("vm %s: after_vm_hibernate: %s", vm.id, e.message)
    release(ctx, vm)


def restore(ctx: VirtContext, vm: Vm) -> libvirt.virDomain:
    """Restore the saved image of ``vm`` (called by the start thread)."""
    path, _ = drives.resolve_spec(handle_spec(vm.vmdef.restore_state),
                                  resolver=ctx.resolver)
    conn = ctx.conn.get()
    xml = conn.saveImageGetXMLDesc(path, libvirt.VIR_DOMAIN_XML_SECURE)
    uuid = from_string(xml).findtext("uuid")
    if uuid != vm.id:
        raise ImageFileNotFound(f"saved state {path} belongs to VM {uuid}, "
                                f"not {vm.id}")
    saved = metadata.read(xml)
    if saved is not None and saved["startTime"]:
        vm.start_time = saved["startTime"]
    saved_xml = xml
    xml = restored.for_vm(xml, vm.devices, vm.conf, start_time=vm.start_time)
    edited = run_hook(ctx, vm, "before_vm_dehibernate", xml)
    vm.set_status(st.RESTORING_STATE, only_from=(st.WAIT_FOR_LAUNCH,))
    conn.restoreFlags(path, edited if edited != saved_xml else None, 0)
    dom = vm.domain(conn)
    refresh_live(vm, dom)
    if dom.state()[0] == st.DOM_RUNNING:
        vm.set_status(st.UP, only_from=(st.RESTORING_STATE,))
    return dom
