"""The monitor that keeps running VMs' thin block volumes ahead of QEMU.

For every thin drive (:func:`vdsm.virt.thinprov.is_thin`) of a running VM
the monitor registers a libvirt block threshold at the watermark. When
QEMU's allocation crosses it (libvirt's BLOCK_THRESHOLD event), or when
the periodic check (``[vars] vm_watermark_interval``, the safety net for
lost events and for drives whose threshold libvirt refused) sees too
little free space, it asks the extender for ``physical + chunk``. One
extension is in flight per drive; when it ends, the drive is checked
again (new size, next threshold, or the next extension at once). A VM
that paused on ENOSPC from a thin drive is resumed once its thin drives
have room again. A failed extension is logged and retried at the next
check.

Threads: every check runs on the monitor's own thread (events, callbacks
and the periodic pass only queue the VM), so the virt event worker never
waits for libvirt here and one VM is never checked twice at once; a VM
whose QEMU does not answer (the sampler's ``unresponsive_since``) is
skipped by the periodic pass. The drive states are guarded by one lock,
never held across a libvirt or extender call.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.virt import lifecycle
from vdsm.virt import status as st
from vdsm.virt import thinprov as tp
from vdsm.virt.context import VirtContext
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)

# A busy domain's monitor stats are skipped rather than waited for.
STATS_FLAGS = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
MONITORED = frozenset({st.UP, st.PAUSED, st.POWERING_UP, st.POWERING_DOWN,
                       st.REBOOT_IN_PROGRESS, st.MIGRATION_SOURCE})


class VolumeMonitor:
    def __init__(self, ctx: VirtContext, *, policy: tp.Policy, interval: float,
                 extender: tp.Extender | None = None) -> None:
        self.ctx = ctx
        self.policy = policy
        self.interval = interval
        if extender is not None:
            self.extender = extender
        self._lock = threading.Lock()
        self._drives: dict[str, dict[str, tp.ThinDrive]] = {}
        # VMs paused on a thin drive's ENOSPC: since (monotonic)
        self._enospc: dict[str, float] = {}
        self._resumes: dict[str, int] = {}  # VMs resumed after ENOSPC, how often
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def extender(self) -> tp.Extender | None:
        """Storage's extender, kept in the context (live merge grows a thin
        base with it too)."""
        return self.ctx.extender

    @extender.setter
    def extender(self, extender: tp.Extender | None) -> None:
        self.ctx.extender = extender

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="vm-volume-monitor")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Bounded: a check stuck in libvirt is left behind after ``timeout``."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("volume monitor did not stop in %.1f s", timeout)

    def _run(self) -> None:
        next_pass = time.monotonic() + self.interval
        while not self._stopping.is_set():
            try:
                vm_id = self._queue.get(
                    timeout=max(0.0, next_pass - time.monotonic()))
            except queue.Empty:
                self.check_all()
                next_pass = time.monotonic() + self.interval
                continue
            if vm_id is None:
                continue
            with self._lock:
                self._queued.discard(vm_id)
            vm = self.ctx.registry.find(vm_id)
            if vm is None or vm.status not in MONITORED:
                continue
            try:
                self.check_vm(vm)
            except Exception:
                log.exception("vm %s: checking thin volumes failed", vm_id)

    def _schedule(self, vm: Vm) -> None:
        """Check ``vm`` soon on the monitor's thread; at once in the
        caller's thread when the monitor was not started (tests, tools)."""
        if self._thread is None or not self._thread.is_alive():
            self.check_vm(vm)
            return
        with self._lock:
            if vm.id in self._queued:
                return
            self._queued.add(vm.id)
        self._queue.put(vm.id)

    # --- entry points -----------------------------------------------------
    def check_all(self) -> None:
        """One periodic pass over every monitored VM."""
        if not self.ctx.conn.connected:
            return
        vms = {vm.id: vm for vm in self.ctx.registry.all()
               if vm.status in MONITORED}
        with self._lock:
            for vm_id in [v for v in self._drives if v not in vms]:
                del self._drives[vm_id]
                self._enospc.pop(vm_id, None)
                self._resumes.pop(vm_id, None)
        for vm in vms.values():
            if vm.unresponsive_since is not None:
                log.debug("vm %s: QEMU does not answer; not checked", vm.id)
                continue
            try:
                self.check_vm(vm)
            except Exception:
                log.exception("vm %s: checking thin volumes failed", vm.id)

    def on_threshold(self, vm: Vm, dev: str, threshold: int, excess: int) -> None:
        """libvirt's BLOCK_THRESHOLD event (``dev`` is ``vdb`` or ``vdb[3]``)."""
        name = dev.partition("[")[0]
        with self._lock:
            drive = self._drives_locked(vm).get(name)
            if drive is None or drive.state != tp.SET \
                    or drive.threshold != threshold:
                stale = True
            else:
                stale = False
                drive.state = tp.EXCEEDED
        if stale:
            log.debug("vm %s: ignoring block threshold event %s at %s", vm.id,
                      dev, threshold)
            return
        log.info("vm %s: drive %s crossed its threshold %d by %d bytes",
                 vm.id, name, threshold, excess)
        self._schedule(vm)

    def on_io_error(self, vm: Vm, alias: str, reason: str) -> None:
        """An ENOSPC on a thin drive: extend now, resume when done."""
        if reason.lower() != "enospc":
            return
        names = {d.get("alias"): d.get("name") for d in vm.live.get("disks", [])}
        with self._lock:
            drives = self._drives_locked(vm)
            name = names.get(alias)
            if not drives or (name is not None and name not in drives):
                return
            self._enospc.setdefault(vm.id, time.monotonic())
            # The drive libvirt named; every thin drive only when it named
            # none we know (one that cannot grow must not hold the resume).
            full = [drives[name]] if name in drives else list(drives.values())
            for drive in full:
                if drive.state == tp.SET:
                    drive.state = tp.EXCEEDED
        log.warning("vm %s: drive %s ran out of space; extending", vm.id,
                    name or alias)
        self._schedule(vm)

    def check_vm(self, vm: Vm) -> None:
        """Refresh every thin drive of ``vm``: sizes, threshold, extension,
        resume. Never raises for a VM gone or libvirt unreachable."""
        with self._lock:
            drives = list(self._drives_locked(vm).values())
        if not drives:
            return
        try:
            dom = vm.domain(self.ctx.conn.get())
            records = block_records(self.ctx.conn.get(), dom)
        except (VdsmError, libvirt.libvirtError) as e:
            log.debug("vm %s: no block statistics now: %s", vm.id, e)
            return
        for drive in drives:
            self._check_drive(vm, dom, drive, records.get(drive.name))
        self._adopt_enospc(vm, dom)
        self._maybe_resume(vm)

    def stats(self, vm_id: str) -> dict[str, dict[str, str]]:
        """Classic disk stats keys of the VM's thin drives, by target name
        (not of a file drive watched for its replica: its own stats stand)."""
        with self._lock:
            return {name: d.stats() for name, d in
                    self._drives.get(vm_id, {}).items() if d.chunked}

    def extend_now(self, vm: Vm, name: str) -> bool:
        """Extend drive ``name`` by a chunk now (diskReplicateStart's
        needExtend: the mirror starts with room ahead of it). False when
        the drive is not watched (neither it nor its replica is thin)."""
        with self._lock:
            drive = self._drives_locked(vm).get(name)
            if drive is None:
                return False
            if drive.state in (tp.UNSET, tp.SET):
                drive.state = tp.EXCEEDED
        log.info("vm %s: drive %s: extension asked ahead", vm.id, name)
        self._schedule(vm)
        return True

    def resumes(self, vm_id: str) -> int:
        """How often the VM was resumed after an ENOSPC pause."""
        with self._lock:
            return self._resumes.get(vm_id, 0)

    def drives(self, vm_id: str) -> dict[str, tp.ThinDrive]:
        """Copies of the VM's thin drive states (for tests and debugging)."""
        with self._lock:
            return {name: tp.ThinDrive(**vars(d)) for name, d in
                    self._drives.get(vm_id, {}).items()}

    # --- one drive --------------------------------------------------------
    def _check_drive(self, vm: Vm, dom: libvirt.virDomain, drive: tp.ThinDrive,
                     record: dict[str, int] | None) -> None:
        try:
            physical = tp.read_size(drive.path)
            replica = tp.read_size(drive.replica.path) if drive.replica else 0
        except OSError as e:
            self._note_error(vm, drive, f"cannot read the size of {e.filename}: "
                             f"{e.strerror}")
            return
        with self._lock:
            drive.physical = physical
            drive.replica_physical = replica
            if record is not None:
                drive.allocation = record.get("allocation", drive.allocation)
                drive.capacity = record.get("capacity", drive.capacity)
            if drive.state == tp.EXTENDING:
                return
            room = drive.room
            due = drive.state == tp.EXCEEDED or (
                record is not None and "allocation" in record
                and self.policy.needs_extension(drive.allocation, room))
            threshold = self.policy.threshold(room)
            stale = drive.state == tp.UNSET or drive.threshold != threshold
        vm.thin_disks = self.stats(vm.id)
        if due:
            self._extend(vm, drive)
        elif stale:
            self._set_threshold(vm, dom, drive, threshold)

    def _set_threshold(self, vm: Vm, dom: libvirt.virDomain,
                       drive: tp.ThinDrive, threshold: int) -> None:
        try:
            dom.setBlockThreshold(drive.name, threshold)
        except libvirt.libvirtError as e:
            # left UNSET: the periodic check watches the drive instead
            self._note_error(vm, drive, "cannot set the block threshold: "
                             f"{e.get_error_message()}")
            return
        with self._lock:
            if drive.state in (tp.UNSET, tp.SET):
                drive.state = tp.SET
                drive.threshold = threshold
                drive.last_error = ""
        log.info("vm %s: drive %s block threshold %d (LV %d bytes)", vm.id,
                 drive.name, threshold, drive.room)

    def _extend(self, vm: Vm, drive: tp.ThinDrive) -> None:
        with self._lock:
            if drive.state == tp.EXTENDING:
                return
            drive.state = tp.EXCEEDED
            capacity = drive.capacity
            room = drive.room
            size = self.policy.next_size(room, capacity) if capacity else 0
            extender = self.extender
            if size > room and extender is not None:
                drive.state = tp.EXTENDING
                drive.extending_to = size
        if not capacity:
            self._note_error(vm, drive, "libvirt has not told its virtual size "
                             "yet; extending at the next check")
            return
        if size <= room:
            with self._lock:       # nothing to wait for: watched as before
                drive.state = tp.UNSET
            self._note_error(vm, drive, "volume at its largest size "
                             f"({room} bytes); not extending")
            return
        if extender is None:
            self._note_error(vm, drive, "no volume extender on this host")
            return
        log.info("vm %s: extending drive %s (volume %s%s) from %d to %d bytes "
                 "(allocation %d)", vm.id, drive.name, drive.vol_uuid,
                 f", replica {drive.replica.vol_uuid}" if drive.replica else "",
                 room, size, drive.allocation)
        self._send(vm, drive, extender, drive.requests(size))

    def _send(self, vm: Vm, drive: tp.ThinDrive, extender: tp.Extender,
              requests: list[tp.ExtendRequest]) -> None:
        """The extensions one after the other (the replica's first); the
        drive's state settles when the last ends or one fails."""
        request, rest = requests[0], requests[1:]

        def done(error: BaseException | None) -> None:
            if error is None and rest:
                log.info("vm %s: drive %s: volume %s extended to %d bytes",
                         vm.id, drive.name, request.vol_uuid, request.size)
                self._send(vm, drive, extender, rest)
            else:
                self._extended(vm, drive, request, error)
        try:
            extender.extend(request, done)
        except Exception as e:
            self._extended(vm, drive, request, e)

    def _extended(self, vm: Vm, drive: tp.ThinDrive, request: tp.ExtendRequest,
                  error: BaseException | None) -> None:
        with self._lock:
            drive.state = tp.EXCEEDED if error is not None else tp.UNSET
            if error is not None:
                drive.failures += 1
            else:
                drive.extensions += 1
        if error is not None:
            log.error("vm %s: extending drive %s (volume %s) to %d bytes "
                      "failed: %s; retrying in %.1f s", vm.id, drive.name,
                      request.vol_uuid, request.size, error, self.interval)
            return
        log.info("vm %s: drive %s (volume %s) extended to %d bytes", vm.id,
                 drive.name, request.vol_uuid, request.size)
        self._schedule(vm)

    def _adopt_enospc(self, vm: Vm, dom: libvirt.virDomain) -> None:
        """A VM found paused on ENOSPC that no event told this monitor of (an
        agent restarted while it was paused): if one of its thin drives is
        the one that ran out of space, it is resumed once they have room."""
        if vm.status != st.PAUSED or vm.pause_code != st.PAUSE_ENOSPC:
            return
        with self._lock:
            if vm.id in self._enospc:
                return
            thin = set(self._drives.get(vm.id, {}))
        try:
            errors = dom.diskErrors()
        except libvirt.libvirtError as e:
            log.debug("vm %s: cannot read disk errors: %s", vm.id, e)
            return
        full = {dev for dev, code in errors.items() if code == st.DISK_ERROR_NO_SPACE}
        if full & thin:
            log.warning("vm %s: found paused on ENOSPC of thin drive(s) %s",
                        vm.id, ", ".join(sorted(full & thin)))
            with self._lock:
                self._enospc.setdefault(vm.id, time.monotonic())

    def _maybe_resume(self, vm: Vm) -> None:
        if vm.status != st.PAUSED or vm.pause_code != st.PAUSE_ENOSPC:
            return
        with self._lock:
            drives = self._drives.get(vm.id, {}).values()
            if vm.id not in self._enospc or any(
                    d.state in (tp.EXTENDING, tp.EXCEEDED)
                    or (self.policy.needs_extension(d.allocation, d.physical)
                        and not _at_largest(d))
                    for d in drives):
                return
            since = self._enospc.pop(vm.id)
        log.info("vm %s: thin drives extended; resuming the VM paused on "
                 "ENOSPC (%.2f s after the error)", vm.id, time.monotonic() - since)
        try:
            lifecycle.cont(self.ctx, vm)
            with self._lock:
                self._resumes[vm.id] = self._resumes.get(vm.id, 0) + 1
        except (VdsmError, libvirt.libvirtError) as e:
            log.error("vm %s: cannot resume after extension: %s", vm.id, e)
            with self._lock:
                self._enospc.setdefault(vm.id, since)

    # --- helpers ----------------------------------------------------------
    def _drives_locked(self, vm: Vm) -> dict[str, tp.ThinDrive]:
        """The VM's thin drives as its devices are now.

        Devices change while a VM runs (a disk hotplugged or unplugged, a
        snapshot or a pivot making another volume the active layer): a
        drive whose volume or path changed is watched afresh, one that did
        not keeps its state (threshold, extension in flight)."""
        old = self._drives.get(vm.id, {})
        drives: dict[str, tp.ThinDrive] = {}
        for dev in vm.devices:
            if not (dev.get("name") and dev.get("path") and tp.is_watched(dev)):
                continue
            drive = tp.ThinDrive.from_device(dev)
            known = old.get(drive.name)
            if known is not None and known.identity == drive.identity:
                drives[drive.name] = known
                continue
            drives[drive.name] = drive
            log.info("vm %s: monitoring thin drive %s (volume %s at %s)",
                     vm.id, drive.name, drive.vol_uuid, drive.path)
        for name in old.keys() - drives.keys():
            log.info("vm %s: drive %s no longer monitored (volume %s)",
                     vm.id, name, old[name].vol_uuid)
        self._drives[vm.id] = drives
        return drives

    def _note_error(self, vm: Vm, drive: tp.ThinDrive, message: str) -> None:
        """Log a drive's problem once, until it changes or clears."""
        with self._lock:
            repeated = drive.last_error == message
            drive.last_error = message
        if not repeated:
            log.warning("vm %s: drive %s: %s", vm.id, drive.name, message)


def _at_largest(drive: tp.ThinDrive) -> bool:
    """A drive that cannot grow (already room for its whole virtual size):
    its watermark says nothing about whether the VM may run."""
    return bool(drive.capacity) and drive.room >= tp.max_size(drive.capacity)


def block_records(conn: libvirt.virConnect,
                  dom: libvirt.virDomain) -> dict[str, dict[str, int]]:
    """Top layer allocation/capacity/physical of each disk, by target."""
    result = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_BLOCK,
                                     STATS_FLAGS)
    if not result:
        return {}
    return tp.parse_block_record(result[0][1])
