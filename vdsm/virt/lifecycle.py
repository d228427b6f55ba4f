"""Starting and stopping VMs: create, destroy, pause, cont, reset, shutdown.

``create`` validates synchronously (a bad request gets an error code and
leaves nothing behind) and starts the VM in a thread, as the classic
agent does: the caller gets the definition with status WaitForLaunch and
follows the status. Every libvirt wait is bounded. Each function takes
the VM's operation lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable

import libvirt

from vdsm.common.errors import HookError, VdsmError
from vdsm.virt import devicehooks, drives, hibernation
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import domain as domxml
from vdsm.virt.errors import ResetFailed, VMDestroyFailed, VMIsDown
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import (
    check_no_domain,
    refresh_live,
    release,
    run_hook,
    running_domain,
)
from vdsm.virt.vmparams import VmDef

log = logging.getLogger(__name__)

DESTROY_ATTEMPTS = 3


def create(ctx: VirtContext, vmdef: VmDef) -> Vm:
    """Register the VM and start it in the background.

    Raises VMExists, ImageFileNotFound or InvalidParameter before anything
    is created.
    """
    drives.check_paths(vmdef.devices, resolver=ctx.resolver)
    if vmdef.restore_state is not None:
        hibernation.check_state(vmdef, resolver=ctx.resolver)
    check_no_domain(ctx, vmdef.vm_id)
    vm = Vm(vmdef, publisher=ctx.publisher)
    ctx.registry.add(vm)
    vm.publish_status()
    threading.Thread(target=_start, args=(ctx, vm), daemon=True,
                     name=f"vm-start-{vm.id[:8]}").start()
    return vm


def _start(ctx: VirtContext, vm: Vm) -> None:
    with vm.lock:
        try:
            drives.prepare(vm.devices, resolver=ctx.resolver)
            if vm.vmdef.restore_state is not None:
                hibernation.restore(ctx, vm)
            else:
                _launch(ctx, vm)
        except HookError as e:
            _start_failed(ctx, vm, st.GENERIC_ERROR, f"Hook failed: {e.message}")
            return
        except libvirt.libvirtError as e:
            _start_failed(ctx, vm, st.LIBVIRT_START_FAILED,
                          f"VM failed to start: {e.get_error_message()}")
            return
        except VdsmError as e:
            _start_failed(ctx, vm, st.LIBVIRT_START_FAILED, e.message)
            return
        except Exception as e:
            log.exception("vm %s: start failed unexpectedly", vm.id)
            _start_failed(ctx, vm, st.LIBVIRT_START_FAILED, f"Internal error: {e}")
            return
        restored = vm.vmdef.restore_state is not None
        _after(ctx, vm, "after_vm_dehibernate" if restored else "after_vm_start")
        if not restored:
            devicehooks.after_create(ctx, vm)


def _after(ctx: VirtContext, vm: Vm, point: str) -> None:
    try:
        run_hook(ctx, vm, point, vm.live.get("xml"))
    except HookError as e:
        log.warning("vm %s: %s: %s", vm.id, point, e.message)


def _launch(ctx: VirtContext, vm: Vm) -> libvirt.virDomain:
    # vm.devices carry the paths drives.prepare resolved for volume drives;
    # the request's own devices (vmdef) never do.
    vmdef = dataclasses.replace(vm.vmdef, devices=vm.devices)
    xml = domxml.build(vmdef, ctx.options, start_time=vm.start_time,
                       conf=vm.conf)
    xml = devicehooks.before_create(ctx, vm, xml)
    xml = ctx.hooks.before_vm_start(xml, custom=vm.vmdef.custom, vm_id=vm.id)
    flags = libvirt.VIR_DOMAIN_START_PAUSED if vm.vmdef.launch_paused else 0
    dom = ctx.conn.get().createXML(xml, flags)
    refresh_live(vm, dom)
    vm.set_status(st.POWERING_UP, only_from=(st.WAIT_FOR_LAUNCH,))
    state, _ = dom.state()
    if state == st.DOM_RUNNING:
        vm.set_status(st.UP, only_from=(st.POWERING_UP,))
    elif state == st.DOM_PAUSED and vm.vmdef.launch_paused:
        vm.set_status(st.PAUSED, only_from=(st.POWERING_UP,))
    return dom


def _start_failed(ctx: VirtContext, vm: Vm, reason: int, message: str) -> None:
    log.error("vm %s: %s", vm.id, message)
    vm.fail(reason, message)
    release(ctx, vm)





def destroy(ctx: VirtContext, vm: Vm) -> None:
    """Stop the VM at once (if running) and forget it. Raises VMDestroyFailed."""
    with vm.lock:
        if not vm.is_down:
            vm.expected_exit = st.ADMIN_SHUTDOWN
            vm.destroying = True
            try:
                dom = vm.domain(ctx.conn.get())
            except VMIsDown:
                dom = None
            if dom is not None:
                _destroy_domain(vm, dom)
            vm.set_status(st.DOWN, exit=st.exit_info(st.ADMIN_SHUTDOWN))
    release(ctx, vm)
    ctx.registry.remove(vm)


def _destroy_domain(vm: Vm, dom: libvirt.virDomain) -> None:
    """Graceful (SIGTERM) first, then forced; a gone domain is success."""
    last: libvirt.libvirtError | None = None
    for attempt in range(DESTROY_ATTEMPTS):
        flags = libvirt.VIR_DOMAIN_DESTROY_GRACEFUL if attempt == 0 else 0
        try:
            dom.destroyFlags(flags)
            return
        except libvirt.libvirtError as e:
            if e.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN,
                                      libvirt.VIR_ERR_OPERATION_INVALID):
                return
            log.warning("vm %s: destroy attempt %d failed: %s", vm.id,
                        attempt + 1, e.get_error_message())
            last = e
    raise VMDestroyFailed(f"Virtual machine destroy error: "
                          f"{last.get_error_message() if last else ''}")


def pause(ctx: VirtContext, vm: Vm) -> None:
    _hooked_call(ctx, vm, "vm_pause", lambda dom: dom.suspend(), st.PAUSED)


def cont(ctx: VirtContext, vm: Vm) -> None:
    _hooked_call(ctx, vm, "vm_cont", lambda dom: dom.resume(), st.UP)


def _hooked_call(ctx: VirtContext, vm: Vm, point: str,
                 call: Callable[[libvirt.virDomain], Any], new: str) -> None:
    with vm.lock:
        dom = running_domain(ctx, vm)
        run_hook(ctx, vm, f"before_{point}", dom.XMLDesc(0))
        call(dom)
        vm.set_status(new)
        run_hook(ctx, vm, f"after_{point}", dom.XMLDesc(0))


def reset(ctx: VirtContext, vm: Vm) -> None:
    with vm.lock:
        dom = running_domain(ctx, vm)
        try:
            dom.reset(0)
        except libvirt.libvirtError as e:
            raise ResetFailed(f"Failed to reset VM: {e.get_error_message()}") \
                from None


def shutdown(ctx: VirtContext, vm: Vm, *, delay: int = 0, message: str = "",
             reboot: bool = False, timeout: float | None = None,
             force: bool = False) -> None:
    """Ask the guest to power off (or reboot) in the background.

    The guest agent is tried first when connected, then ACPI; each gets
    its share of ``timeout``. With ``force`` a guest still running after
    that is destroyed. Raises VMIsDown.
    """
    running_domain(ctx, vm)
    timeout = ctx.shutdown_timeout if timeout is None else timeout
    threading.Thread(target=_shutdown, daemon=True,
                     name=f"vm-shutdown-{vm.id[:8]}",
                     args=(ctx, vm, delay, message, reboot, timeout, force)
                     ).start()


def _shutdown(ctx: VirtContext, vm: Vm, delay: int, message: str,
              reboot: bool, timeout: float, force: bool) -> None:
    if delay > 0 and vm.wait_status((st.DOWN,), min(delay, timeout)):
        return
    if message:
        log.info("vm %s: shutdown message for the guest: %s", vm.id, message)
    methods = []
    if vm.agent_connected:
        methods.append(libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
    methods.append(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
    previous = vm.status
    vm.expected_exit = st.ADMIN_SHUTDOWN
    if not reboot:
        vm.set_status(st.POWERING_DOWN, only_from=(st.UP, st.POWERING_UP))
    for flag in methods:
        try:
            dom = vm.domain(ctx.conn.get())
            if reboot:
                dom.reboot(flag)
                log.info("vm %s: reboot requested", vm.id)
                return
            dom.shutdownFlags(flag)
        except (libvirt.libvirtError, VdsmError) as e:
            log.info("vm %s: shutdown method %s failed: %s", vm.id, flag, e)
            continue
        if vm.wait_status((st.DOWN,), timeout / len(methods)):
            return
    if force and not vm.is_down:
        log.info("vm %s: still running after %.0f s; forcing it off", vm.id,
                 timeout)
        try:
            destroy_domain_only(ctx, vm)
        except VdsmError as e:
            log.error("vm %s: forced stop failed: %s", vm.id, e.message)
    elif not vm.is_down:
        log.warning("vm %s: guest did not shut down in %.0f s", vm.id, timeout)
        vm.expected_exit = None
        vm.set_status(previous, only_from=(st.POWERING_DOWN,))


def destroy_domain_only(ctx: VirtContext, vm: Vm) -> None:
    """Stop QEMU but keep the VM listed (it turns Down via the event)."""
    with vm.lock:
        try:
            dom = vm.domain(ctx.conn.get())
        except VMIsDown:
            return
        _destroy_domain(vm, dom)
