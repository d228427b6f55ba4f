"""Live merge: a volume of a running VM's disk committed into its parent.

:func:`merge` checks the request against the chain in the live XML,
starts libvirt's block commit (relative backing paths kept; the active
layer with ``COMMIT_ACTIVE``), registers a host job and the VM's
``vmJobs`` entry, records the merge in the domain's metadata and hands it
to a follower thread. The follower polls ``blockJobInfo`` (progress;
libvirt's BLOCK_JOB events only wake it earlier), pivots an active commit
once it is ready, then reads the chain again: the top volume gone means
done (the VM's drive and the volume metadata follow, through storage's
:class:`ChainSync`), still there means failed.

The metadata record is what recovery needs after the agent was killed:
:func:`adopt` starts a follower for each recorded merge, which finds the
libvirt job still running (follows it, pivots) or ended (checks the
chain), so a merge is always finished or reported failed.

Thread-safe: the VM's lock guards its ``block_jobs``; one follower per job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from typing import Any, Protocol

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.host.jobs import Job
from vdsm.virt import mergebase
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml.base import from_string
from vdsm.virt.domxml.chain import disk_chain
from vdsm.virt.errors import ImageFileNotFound, MergeFailed
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf

log = logging.getLogger(__name__)

JOB_TYPE = "virt"
MERGE_FAILED = 52
META_URI = "http://ovirt.org/vm/merge/1.0"
META_KEY = "ovirt-merge"
POLL = 1.0                 # seconds between blockJobInfo calls, if no event
MAX_SECONDS = 6 * 3600     # a merge still running after this is failed
PIVOT_RETRIES = 25         # libvirt may refuse a pivot just as it is ready


class ChainSync(Protocol):
    """What storage offers after a merge (vdsm.storage.subsystem)."""

    def sync(self, drive: dict[str, Any], chain: list[str]) -> list[str]:
        """Make the metadata follow ``chain`` (base first); the volumes
        marked ILLEGAL."""

    def set_size(self, drive: dict[str, Any], size: int) -> None:
        """Record the volume's virtual size QEMU now uses (0: resizing)."""


@dataclasses.dataclass
class Merge:
    job_id: str
    drive: dict[str, Any]     # domainID, poolID, imageID, volumeID
    target: str               # vda
    base: str
    top: str
    active: bool
    after: list[str]          # the chain once merged, base first
    bandwidth: int = 0
    cur: int = 0
    end: int = 0
    # set by libvirt's BLOCK_JOB_2 events: the follower looks at once
    wake: threading.Event = dataclasses.field(
        default_factory=threading.Event, compare=False, repr=False)
    committed: bool = False   # top marked ILLEGAL: no way back but the pivot

    def vm_job(self) -> dict[str, Any]:
        """The classic vmJobs entry."""
        return {"id": self.job_id, "jobType": "block", "blockJobType": "commit",
                "imgUUID": self.drive["imageID"], "bandwidth": self.bandwidth,
                "cur": str(self.cur), "end": str(self.end)}

    def saved(self) -> dict[str, Any]:
        """What recovery needs (the domain metadata's record)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("cur", "end", "wake")}


def volume_chain(xml: str, target: str) -> list[str]:
    """Volume UUIDs of the disk's chain, leaf first (the file names)."""
    return [os.path.basename(p) for p in disk_chain(xml, target)]


def merge(ctx: VirtContext, vm: Vm, drive: dict[str, Any], base: str, top: str,
          *, bandwidth: int = 0, job_id: str | None = None) -> str:
    """Start the merge of ``top`` into ``base``; the job's id. Raises
    ImageFileNotFound for an unknown drive, MergeFailed for volumes that
    are not a layer and its ancestor (no job registered), a thin block
    base that cannot be extended first or a block commit libvirt refuses
    (the job failed), JobExists for a job id in use."""
    with vm.lock:
        dom, dev, xml, paths, chain = _checked(ctx, vm, drive, base, top)
        active = chain[0] == top
        job = ctx.jobs.add(JOB_TYPE, f"merge {top} into {base} "
                           f"({dev['name']})", job_id=job_id)
        try:
            request = mergebase.plan(dev, xml, paths, chain, base, top,
                                     active=active, chunk=ctx.thin_chunk)
        except MergeFailed as e:
            job.fail(MERGE_FAILED, e.message)
            raise
    if request is not None:
        # the SPM grows the base; the VM's lock is not held meanwhile
        try:
            mergebase.extend(ctx.extender, request)
        except MergeFailed as e:
            job.fail(MERGE_FAILED, e.message)
            raise
    with vm.lock:
        try:
            if request is not None:      # the chain may have changed since
                dom, dev, xml, paths, chain = _checked(ctx, vm, drive, base,
                                                       top)
                active = chain[0] == top
            record = _commit(dom, dev, paths, chain, job, base, top, active,
                             bandwidth, drive)
        except (MergeFailed, ImageFileNotFound) as e:
            job.fail(MERGE_FAILED, e.message)
            raise
        vm.block_jobs[job.id] = record
        _persist(vm, dom)
        job.start()
    vm.log.info("vm %s: merging %s into %s on %s (%s, job %s)", vm.id, top, base,
                dev["name"], "active" if active else "internal", job.id)
    _follow_in_thread(ctx, vm, record, job)
    return job.id


def _checked(ctx: VirtContext, vm: Vm, drive: dict[str, Any], base: str, top: str
             ) -> tuple[libvirt.virDomain, dict[str, Any], str, list[str], list[str]]:
    """The domain, disk, live XML, chain paths and volume UUIDs (leaf
    first) when ``top`` and ``base`` are a layer and its ancestor;
    MergeFailed else."""
    dev = find_disk(vm, drive)
    dom = vm.domain(ctx.conn.get())
    xml = dom.XMLDesc(0)
    paths = disk_chain(xml, dev["name"])
    chain = [os.path.basename(p) for p in paths]
    if top not in chain or base not in chain[chain.index(top) + 1:]:
        raise MergeFailed(f"Merge failed: {top} into {base}: not a layer "
                          f"and its ancestor in the chain {chain}")
    return dom, dev, xml, paths, chain


def _commit(dom: libvirt.virDomain, dev: dict[str, Any], paths: list[str],
            chain: list[str], job: Job, base: str, top: str, active: bool,
            bandwidth: int, drive: dict[str, Any]) -> Merge:
    """libvirt's block commit started; the merge's record."""
    target = dev["name"]
    ids = {k: dev.get(k) or drive.get(k) for k in
           ("domainID", "poolID", "imageID", "volumeID")}
    after = [v for v in reversed(chain) if v != top]
    flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_RELATIVE
    if active:
        flags |= libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE
    try:
        dom.blockCommit(
            target, paths[chain.index(base)],
            None if active else paths[chain.index(top)], bandwidth, flags)
    except libvirt.libvirtError as e:
        raise MergeFailed(f"Merge failed: {e.get_error_message()}") from None
    return Merge(job.id, ids, target, base, top, active, after, bandwidth)


def on_block_job(vm: Vm, disk: str, job_type: int, status: int) -> None:
    """libvirt's BLOCK_JOB_2 event (on the events thread): wake the
    follower of the merge on ``disk`` (ready: pivot now; ended: finish)."""
    for record in list(vm.block_jobs.values()):
        if disk == record.target:
            vm.log.debug("vm %s: block job on %s: status %s", vm.id, disk, status)
            record.wake.set()


def find_disk(vm: Vm, drive: dict[str, Any]) -> dict[str, Any]:
    for dev in vm.devices:
        if dev.get("type") == "disk" and dev.get("imageID") == drive.get("imageID") \
                and dev.get("domainID") == drive.get("domainID") and dev.get("name"):
            return dev
    raise ImageFileNotFound(f"Drive image file could not be found: {drive}")


def adopt(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain) -> None:
    """After a restart: follow every merge the domain's metadata records."""
    for saved in _read(dom):
        try:
            record = Merge(**saved)
        except TypeError as e:
            log.error("vm %s: bad merge record %s: %s", vm.id, saved, e)
            continue
        job = ctx.jobs.find(record.job_id) or ctx.jobs.add(
            JOB_TYPE, f"merge {record.top} into {record.base} ({record.target})",
            job_id=record.job_id)
        job.start()
        with vm.lock:
            vm.block_jobs[record.job_id] = record
        vm.log.info("vm %s: recovered merge job %s", vm.id, record.job_id)
        _follow_in_thread(ctx, vm, record, job)


def _follow_in_thread(ctx: VirtContext, vm: Vm, record: Merge, job: Job) -> None:
    threading.Thread(target=_follow, args=(ctx, vm, record, job), daemon=True,
                     name=f"merge-{record.job_id[:8]}").start()


def _follow(ctx: VirtContext, vm: Vm, record: Merge, job: Job) -> None:
    try:
        dom = vm.domain(ctx.conn.get())
        _wait_for_end(ctx, vm, dom, record, job)
        _finish(ctx, vm, dom, record, job)
    except (libvirt.libvirtError, VdsmError, OSError) as e:
        vm.log.error("vm %s: merge job %s failed: %s", vm.id, record.job_id, e)
        _give_up(ctx, vm, record, job, f"Merge failed: {e}")
    except Exception as e:
        vm.log.exception("vm %s: merge job %s: unexpected error", vm.id,
                         record.job_id)
        _give_up(ctx, vm, record, job, f"Merge failed: internal error: {e}")


def _give_up(ctx: VirtContext, vm: Vm, record: Merge, job: Job,
             message: str) -> None:
    """The job failed: libvirt's block job is cancelled (the chain stays
    as it was) unless top was already marked ILLEGAL for the pivot; then
    it is left for a retry or reconcileVolumeChain."""
    if not record.committed:
        try:
            vm.domain(ctx.conn.get()).blockJobAbort(record.target, 0)
            vm.log.info("vm %s: block job on %s cancelled", vm.id, record.target)
        except (libvirt.libvirtError, VdsmError) as e:
            vm.log.info("vm %s: no block job to cancel on %s: %s", vm.id,
                        record.target, e)
    job.fail(MERGE_FAILED, message)
    _forget(ctx, vm, record)


def _wait_for_end(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
                  record: Merge, job: Job) -> None:
    """Until libvirt's job is gone (an active commit pivoted first)."""
    deadline = time.monotonic() + MAX_SECONDS
    refused = 0
    while time.monotonic() < deadline:
        info = dom.blockJobInfo(record.target, 0)
        if not info:
            return
        record.cur, record.end = info.get("cur", 0), info.get("end", 0)
        if record.end:
            job.progress_to(99 * record.cur / record.end)
        if record.active and record.end and record.cur == record.end:
            # base holds all the data and gets every write from now on:
            # the commitment point (top ILLEGAL) before the pivot, so that
            # an interrupted pivot still leaves top safe to delete
            _sync(ctx, vm, record, record.after)
            record.committed = True
            try:
                dom.blockJobAbort(record.target,
                                  libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
                log.info("merge %s: pivoted %s to %s", record.job_id,
                         record.target, record.base)
            except libvirt.libvirtError as e:
                refused += 1
                if refused > PIVOT_RETRIES:
                    raise
                log.info("merge %s: pivot not yet possible: %s", record.job_id,
                         e.get_error_message())
        if record.wake.wait(POLL):
            record.wake.clear()
    raise MergeFailed(f"Merge failed: still running after {MAX_SECONDS} s")


def _finish(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain, record: Merge,
            job: Job) -> None:
    chain = volume_chain(dom.XMLDesc(0), record.target)
    if record.top in chain:
        job.fail(MERGE_FAILED, f"Merge failed: {record.top} is still in the "
                 f"chain {chain} (the block job was aborted or failed)")
        _forget(ctx, vm, record)
        return
    with vm.lock:
        dev = find_disk(vm, record.drive)
        dev["volumeID"] = chain[0]
        if isinstance(dev.get("volumeChain"), list):
            dev["volumeChain"] = [v for v in dev["volumeChain"]
                                  if v.get("volumeID") != record.top]
    _sync(ctx, vm, record, list(reversed(chain)))
    job.finish()
    _forget(ctx, vm, record)


def _sync(ctx: VirtContext, vm: Vm, record: Merge, chain: list[str]) -> None:
    if ctx.chains is None:
        return
    removed = ctx.chains.sync(dict(record.drive, volumeID=chain[-1]), chain)
    vm.log.info("vm %s: volume metadata follows the chain %s; left for the "
                "SPM: %s", vm.id, chain, removed)


def _forget(ctx: VirtContext, vm: Vm, record: Merge) -> None:
    with vm.lock:
        vm.block_jobs.pop(record.job_id, None)
        try:
            _persist(vm, vm.domain(ctx.conn.get()))
        except (libvirt.libvirtError, VdsmError) as e:
            vm.log.warning("vm %s: cannot update the merge record: %s", vm.id, e)


def _persist(vm: Vm, dom: libvirt.virDomain) -> None:
    """The VM's conf and its merges into the domain metadata (live)."""
    persist_conf(vm, dom)
    text = json.dumps([r.saved() for r in vm.block_jobs.values()])
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                    f"<merges>{_escape(text)}</merges>", META_KEY, META_URI,
                    libvirt.VIR_DOMAIN_AFFECT_LIVE)


def _read(dom: libvirt.virDomain) -> list[dict[str, Any]]:
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, META_URI, 0)
    except libvirt.libvirtError as e:
        if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            log.warning("domain %s: cannot read merge records: %s",
                        dom.UUIDString(), e.get_error_message())
        return []
    try:
        saved = json.loads(from_string(text).text or "[]")
    except ValueError as e:
        log.error("domain %s: corrupt merge records: %s", dom.UUIDString(), e)
        return []
    return saved if isinstance(saved, list) else []


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
