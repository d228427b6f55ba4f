"""QoS of a running VM: disk throttling and vCPU bandwidth through libvirt.

Every change is checked whole first (:mod:`vdsm.virt.qosparams`), then
applied to the live domain; a libvirt failure part way puts back the
drives already changed. Only then the values are stored in the VM
definition and the domain metadata, which recovery reads after an agent
restart (libvirt keeps the limits themselves on the running domain).

Thread-safe: each change runs under the VM's lock.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import libvirt

from vdsm.virt import qosparams
from vdsm.virt.context import VirtContext
from vdsm.virt.errors import CpuTuneError, UpdateIOTuneError, UpdateVMPolicyFailed
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, running_domain

log = logging.getLogger(__name__)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


def drives(vm: Vm) -> list[dict[str, Any]]:
    """The VM's disks (not CD-ROMs) as the live XML names them."""
    return qosparams.disk_drives(vm.live.get("disks", []))


def state(vm: Vm) -> dict[str, Any]:
    """The VM's stored QoS values (a copy)."""
    return copy.deepcopy(vm.conf.get("qos") or {})


def set_io_tune(ctx: VirtContext, vm: Vm, items: Any) -> None:
    """setIoTune: throttle each drive named; UpdateIOTuneError (nothing
    changed) on a bad item or a libvirt refusal."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        refresh_live(vm, dom)
        wanted = qosparams.tunables(drives(vm), items, _io_error)
        _apply_io(dom, wanted, UpdateIOTuneError)
        qos = state(vm)
        qos.setdefault("ioTune", {}).update(wanted)
        _store(vm, dom, qos)


def get_io_tune(ctx: VirtContext, vm: Vm) -> list[dict[str, Any]]:
    """getIoTune: each disk's limits as libvirt applies them now."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        found = {}
        for drive in drives(vm):
            try:
                current = dom.blockIoTune(drive["name"], LIVE)
            except libvirt.libvirtError as e:
                raise UpdateIOTuneError(f"cannot read the I/O limits of "
                                        f"{drive['name']}: "
                                        f"{e.get_error_message()}") from None
            found[drive["name"]] = {"ioTune": {k: int(current.get(k, 0))
                                               for k in qosparams.IOTUNE_KEYS}}
        return qosparams.drive_entries(drives(vm), found)


def io_tune_policy(vm: Vm) -> list[dict[str, Any]]:
    """getIoTunePolicy: the policies set by updateVmPolicy (memory only)."""
    return qosparams.drive_entries(drives(vm), state(vm).get("ioTunePolicy", {}))


def all_io_tune_policies(vms: list[Vm]) -> dict[str, dict[str, Any]]:
    """getAllVmIoTunePolicies: policy and current values of each running VM
    (memory only, never waits for a QEMU)."""
    result = {}
    for vm in vms:
        if vm.is_down:
            continue
        current = {n: {"ioTune": v} for n, v in state(vm).get("ioTune", {}).items()}
        result[vm.id] = {"policy": io_tune_policy(vm),
                         "current_values": qosparams.drive_entries(drives(vm),
                                                                   current)}
    return result


def set_cpu_tune(ctx: VirtContext, vm: Vm, key: str, value: Any) -> None:
    """setCpuTuneQuota/setCpuTunePeriod (``key`` vcpu_quota/vcpu_period);
    CpuTuneError, nothing changed, on a value out of range or a refusal."""
    number = qosparams.cpu_value(value, key, CpuTuneError)
    with vm.lock:
        dom = running_domain(ctx, vm)
        _apply_sched(dom, {key: number}, CpuTuneError)
        qos = state(vm)
        qos["vcpuQuota" if key == "vcpu_quota" else "vcpuPeriod"] = number
        _store(vm, dom, qos)


def set_vcpu_tune(ctx: VirtContext, vm: Vm, quota: int, period: int) -> None:
    """The policy engine's vCPU quota and period, set in one call;
    CpuTuneError, nothing changed, on a value out of range or a refusal."""
    quota = qosparams.cpu_value(quota, "vcpu_quota", CpuTuneError)
    period = qosparams.cpu_value(period, "vcpu_period", CpuTuneError)
    with vm.lock:
        dom = running_domain(ctx, vm)
        _apply_sched(dom, {"vcpu_quota": quota, "vcpu_period": period},
                     CpuTuneError)
        qos = state(vm)
        qos["vcpuQuota"], qos["vcpuPeriod"] = quota, period
        _store(vm, dom, qos)


def update_vm_policy(ctx: VirtContext, vm: Vm, params: Any) -> None:
    """updateVmPolicy: ``vcpuLimit`` (percent of the host's CPUs, 100: no
    limit) is checked and kept; the policy engine turns it into the vCPU
    quota and period at its next cycle, as classic MOM did. ``ioTune``
    policies: their maximum applied as the drive's limits.
    UpdateVMPolicyFailed, nothing changed, on bad input or a refusal."""
    if not isinstance(params, dict):
        raise UpdateVMPolicyFailed("params must be a map")
    with vm.lock:
        dom = running_domain(ctx, vm)
        refresh_live(vm, dom)
        qos = state(vm)
        policies = None
        if params.get("ioTune") is not None:
            policies = qosparams.policies(drives(vm), params["ioTune"],
                                          _policy_error)
        limit = None
        if params.get("vcpuLimit") not in (None, ""):
            # kept only: the policy engine applies it (vdsm/host/policy)
            limit = qosparams.vcpu_limit(params["vcpuLimit"], _policy_error)
        if policies:
            maximum = {n: p["maximum"] for n, p in policies.items()}
            _apply_io(dom, maximum, UpdateVMPolicyFailed)
            qos.setdefault("ioTunePolicy", {}).update(policies)
            qos.setdefault("ioTune", {}).update(maximum)
        if limit is not None:
            qos["vcpuLimit"] = limit
        _store(vm, dom, qos)


def _apply_io(dom: libvirt.virDomain, wanted: dict[str, dict[str, int]],
              error: type[Exception]) -> dict[str, dict[str, int]]:
    """Set each drive's limits; on a refusal put back those set and raise
    ``error``. Returns the previous values (for a later undo)."""
    done: dict[str, dict[str, int]] = {}
    for name, limits in wanted.items():
        try:
            before = dom.blockIoTune(name, LIVE)
            dom.setBlockIoTune(name, limits, LIVE)
        except libvirt.libvirtError as e:
            _restore_io(dom, done)
            raise error(f"cannot set the I/O limits of {name}: "
                        f"{e.get_error_message()}") from None
        done[name] = {k: int(before.get(k, 0)) for k in qosparams.IOTUNE_KEYS}
    return done


def _restore_io(dom: libvirt.virDomain, previous: dict[str, dict[str, int]]) -> None:
    for name, limits in previous.items():
        try:
            dom.setBlockIoTune(name, limits, LIVE)
        except libvirt.libvirtError as e:
            log.error("domain %s: cannot put back the I/O limits of %s: %s",
                      dom.UUIDString(), name, e.get_error_message())


def _apply_sched(dom: libvirt.virDomain, params: dict[str, int],
                 error: type[Exception]) -> None:
    try:
        dom.setSchedulerParametersFlags(params, LIVE)
    except libvirt.libvirtError as e:
        raise error(f"cannot set {', '.join(params)}: "
                    f"{e.get_error_message()}") from None


def _store(vm: Vm, dom: libvirt.virDomain, qos: dict[str, Any]) -> None:
    vm.conf["qos"] = qos
    persist_conf(vm, dom)


def _io_error(message: str) -> UpdateIOTuneError:
    return UpdateIOTuneError(f"Failed to update ioTune values: {message}")


def _policy_error(message: str) -> UpdateVMPolicyFailed:
    return UpdateVMPolicyFailed(f"Failed to update VM SLA policy: {message}")
