"""Live storage migration of one disk: diskReplicateStart/Finish.

The engine copies a running disk's older layers to another domain and
creates the same leaf there; the agent mirrors the disk's active layer
into that leaf (libvirt blockCopy, REUSE_EXT | SHALLOW: only the top
layer, onto the existing destination whose backing chain is the copy),
then either pivots to it (the VM now runs on the destination domain) or
aborts the mirror (the VM stays on the source). The guest never stops.

The replication is recorded in the drive of the VM's definition
(``diskReplicate``: the destination volume and its path) and stored in
the domain metadata *before* the copy starts, so an agent restarted
during replication recovers it with the VM, reports it in the VM's
definition, and a Finish after the restart still works (libvirt keeps
the block job).

Thread-safe: every step runs under the VM's lock.
"""

from __future__ import annotations

import logging
import os
import struct
from typing import Any

import libvirt
from lxml import etree

from vdsm.common.errors import ResourceUnavailable
from vdsm.host.jobs import Job
from vdsm.virt import drives
from vdsm.virt.context import VirtContext
from vdsm.virt.devices import VOLUME_KEYS
from vdsm.virt.domxml import replica as replica_xml
from vdsm.virt.errors import (
    DestinationVolumeTooSmall,
    ImageFileNotFound,
    ReplicaError,
    ReplicationNotInProgress,
)
from vdsm.virt.thinprov import REPLICA_KEY
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, running_domain

log = logging.getLogger(__name__)

JOB_TYPE = "virt"            # in Host.getJobs, as merges and snapshots
REPLICA_ERROR = 55           # ReplicaError's wire code, for the failed job
REPLICA = REPLICA_KEY       # the classic drive key of the replication state
COPY_FLAGS = (libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
              | libvirt.VIR_DOMAIN_BLOCK_COPY_SHALLOW
              | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB)


def find_drive(vm: Vm, spec: Any) -> dict[str, Any]:
    """The disk of ``vm`` that volume ``spec`` names; ImageFileNotFound
    when none (the classic answer to an unknown drive)."""
    if not isinstance(spec, dict) or not drives.is_volume(spec):
        raise ImageFileNotFound(f"Drive image file could not be found: "
                                f"not a volume drive spec: {spec!r}")
    dev = drives.find_disk(vm.devices, domain=spec.get("domainID"),
                           image=spec.get("imageID"), volume=spec.get("volumeID"))
    if dev is not None:
        return dev
    raise ImageFileNotFound(f"Drive image file could not be found: the VM has "
                            f"no disk on volume {spec.get('volumeID')} of "
                            f"domain {spec.get('domainID')}")


def same_volume(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same domain, image and volume (the pool id is not compared: an
    engine may leave it out of one of the specs)."""
    return all(a.get(k) == b.get(k) for k in VOLUME_KEYS if k != "poolID")


def start(ctx: VirtContext, vm: Vm, src: Any, dst: Any, *,
          need_extend: bool = True) -> None:
    """Mirror ``src``'s active layer into the existing volume ``dst``.

    Returns once QEMU copies; the mirror becomes ready (every write goes
    to both) later: :func:`is_ready`. With ``need_extend`` a thin block
    drive or replica is grown by a chunk at once (the volume monitor
    keeps both growing while the mirror lasts, the replica first). Raises
    ImageFileNotFound for an unknown ``src``, ReplicaError when the disk
    already replicates or libvirt refuses the copy (then nothing is left:
    state and ``dst``'s preparation undone)."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        drive = find_drive(vm, src)
        if drive.get(REPLICA):
            raise ReplicaError(f"Drive replication error: {drive['name']} "
                               "already replicates to volume "
                               f"{drive[REPLICA]['volumeID']}")
        if not isinstance(dst, dict) or not drives.is_volume(dst) \
                or same_volume(drive, dst):
            raise ReplicaError(f"Drive replication error: bad destination "
                               f"{dst!r}")
        if ctx.resolver is None:
            raise ReplicaError("Drive replication error: no storage subsystem")
        path = ctx.resolver.prepare(dst)
        _check_size(ctx, vm, dom, drive, dst, path)
        job = ctx.jobs.add(JOB_TYPE, f"replicate {drive['name']} of VM {vm.id} "
                           f"to {path}")
        drive[REPLICA] = {**{k: dst[k] for k in VOLUME_KEYS}, "path": path,
                          "format": drive["format"],
                          "diskType": dst.get("diskType", drive.get("diskType")),
                          "jobID": job.id}
        persist_conf(vm, dom)
        xml = etree.tostring(replica_xml.copy_destination(path, drive["format"]),
                             encoding="unicode")
        try:
            dom.blockCopy(drive["name"], xml, flags=COPY_FLAGS)
        except libvirt.libvirtError as e:
            _forget(ctx, vm, dom, drive, teardown=dst)
            error = (f"Drive replication error: {drive['name']}: "
                     f"{e.get_error_message()}")
            job.fail(REPLICA_ERROR, error)
            raise ReplicaError(error) from None
        job.start()
        vm.log.info("vm %s: %s replicating to %s (job %s)", vm.id, drive["name"],
                    path, job.id)
        name = drive["name"]
    if need_extend and ctx.extend_now is not None and ctx.extend_now(vm, name):
        vm.log.info("vm %s: %s and its replica extended ahead of the mirror",
                    vm.id, name)


def virtual_size(path: str, fmt: str) -> int:
    """The guest-visible size of a volume: a qcow2 header's size field, a
    raw volume's length. Raises OSError, ValueError for a bad header."""
    with open(path, "rb") as f:
        if fmt != "cow":
            return f.seek(0, os.SEEK_END)
        header = f.read(32)
    if len(header) < 32 or header[:4] != b"QFI\xfb":
        raise ValueError(f"{path}: not a qcow2 image")
    return struct.unpack_from(">Q", header, 24)[0]


def _check_size(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
                drive: dict[str, Any], dst: dict[str, Any], path: str) -> None:
    """QEMU would grow a smaller destination itself, behind the volume's
    metadata: refuse it (DestinationVolumeTooSmall), undoing prepare."""
    try:
        need = int(dom.blockInfo(drive["name"], 0)[0])
        have = virtual_size(path, drive["format"])
    except (OSError, ValueError, libvirt.libvirtError) as e:
        _teardown(ctx, vm_id=vm.id, volume=dst)
        raise ReplicaError(f"Drive replication error: sizes of {drive['name']} "
                           f"and {path}: {e}") from None
    if have < need:
        _teardown(ctx, vm_id=vm.id, volume=dst)
        raise DestinationVolumeTooSmall(
            f"Destination volume is too small: {dst['volumeID']} has {have} "
            f"bytes, {drive['name']} {need}")


def is_ready(dom: libvirt.virDomain, name: str) -> bool:
    """The mirror of disk ``name`` is in sync (libvirt's cur == end > 0)."""
    info = dom.blockJobInfo(name, 0)
    return bool(info) and info["end"] > 0 and info["cur"] == info["end"]


def finish(ctx: VirtContext, vm: Vm, src: Any, dst: Any) -> None:
    """End the replication of ``src``: pivot to the replica when ``dst`` is
    it, abort the mirror when ``dst`` is ``src``.

    Raises ReplicationNotInProgress when ``src`` does not replicate,
    ResourceUnavailable while the mirror is not ready yet (ask again),
    ReplicaError when the job vanished with QEMU still on the source (the
    state is dropped; a job gone after libvirt's pivot completes the
    pivot) or libvirt fails to end it (the state is kept: ask again)."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        drive = find_drive(vm, src)
        replica = drive.get(REPLICA)
        if not replica:
            raise ReplicationNotInProgress(
                f"Replication not in progress: {drive['name']}")
        pivot = not same_volume(drive, dst)
        if pivot and not same_volume(replica, dst):
            raise ReplicaError(f"Drive replication error: {dst!r} is neither "
                               f"the source nor the replica of {drive['name']}")
        name = drive["name"]
        job = _job(ctx, vm, drive)
        info = dom.blockJobInfo(name, 0)
        if not info:
            try:
                _job_gone(ctx, vm, dom, drive, pivot=pivot)
            except ReplicaError as e:
                job.fail(REPLICA_ERROR, str(e))
                raise
            job.finish()
            return
        if info["end"] > 0:
            job.progress_to(100 * info["cur"] / info["end"])
        if pivot and not is_ready(dom, name):
            raise ResourceUnavailable(f"Resource unavailable: the mirror of "
                                      f"{name} is not ready yet")
        flags = libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT if pivot else 0
        try:
            dom.blockJobAbort(name, flags)
        except libvirt.libvirtError as e:
            raise ReplicaError(f"Drive replication error: ending the job of "
                               f"{name}: {e.get_error_message()}") from None
        if pivot:
            _pivoted(ctx, vm, dom, drive)
            job.finish()
        else:
            _forget(ctx, vm, dom, drive, teardown=replica)
            job.abort()
            vm.log.info("vm %s: %s replication aborted", vm.id, name)


def _job(ctx: VirtContext, vm: Vm, drive: dict[str, Any]) -> Job:
    """The replication's host job; registered again (same id, running)
    after an agent restart, from the id kept in the VM's metadata."""
    job_id = drive[REPLICA].get("jobID")
    job = ctx.jobs.find(job_id) if job_id else None
    if job is None:
        job = ctx.jobs.add(JOB_TYPE, f"replicate {drive['name']} of VM {vm.id} "
                           f"to {drive[REPLICA]['path']}", job_id=job_id)
        job.start()
    return job


def _pivoted(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
             drive: dict[str, Any]) -> None:
    """QEMU runs on the replica: the drive names it, the source goes."""
    replica = drive[REPLICA]
    old = {k: drive[k] for k in VOLUME_KEYS}
    drive.update({k: replica[k] for k in VOLUME_KEYS}, path=replica["path"])
    if replica.get("diskType"):
        drive["diskType"] = replica["diskType"]
    _forget(ctx, vm, dom, drive, teardown=old)
    vm.log.info("vm %s: %s pivoted to %s", vm.id, drive["name"], replica["path"])


def _job_gone(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
              drive: dict[str, Any], *, pivot: bool) -> None:
    """The block job ended without this agent (it died between libvirt's
    pivot and the metadata update, or someone ended the job): the live XML
    says where QEMU is. On the replica, the pivot is completed (success
    for a Finish that asked for it); on the source, the state is dropped.
    Raises ReplicaError unless the outcome is what the caller asked."""
    name, replica = drive["name"], drive[REPLICA]
    refresh_live(vm, dom)
    live = next((d["path"] for d in vm.live.get("disks", [])
                 if d["name"] == name), None)
    if live == replica["path"]:
        _pivoted(ctx, vm, dom, drive)
        if pivot:
            return
        raise ReplicaError(f"Drive replication error: {name} had pivoted to "
                           f"the replica already; it stays there")
    _forget(ctx, vm, dom, drive, teardown=replica)
    raise ReplicaError(f"Drive replication error: no block job on {name}; "
                       "replication state dropped")

def _forget(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
            drive: dict[str, Any], *, teardown: dict[str, Any]) -> None:
    """Drop the replication state (memory and metadata), then release the
    volume no longer used (a failing teardown is logged: the VM's disk
    is already right)."""
    drive.pop(REPLICA, None)
    refresh_live(vm, dom)
    persist_conf(vm, dom)
    _teardown(ctx, vm_id=vm.id, volume=teardown)


def _teardown(ctx: VirtContext, *, vm_id: str,
              volume: dict[str, Any]) -> None:
    if ctx.resolver is None:
        return
    try:
        ctx.resolver.teardown(volume)
    except Exception:
        log.exception("vm %s: teardown of volume %s failed", vm_id,
                      volume.get("volumeID"))
