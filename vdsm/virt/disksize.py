"""diskSizeExtend: grow a running VM's disk so the guest sees it.

A qcow2 (cow) volume's virtual size is QEMU's to change while it runs:
libvirt's blockResize grows the image in place. A raw volume is grown by
the SPM first (extendVolumeSize); the agent then makes QEMU take the new
size of the volume (blockResize to the volume's size). Either way the
answer is the size QEMU now reports, as the classic decimal string.

A COW volume of the image repository has its capacity in the volume's
metadata too: it is set to 0 (a resize under way) before QEMU grows the
image and to QEMU's new size after, through storage's volumeSetSize, so an
agent killed between the two leaves a capacity the next prepare repairs
from the image, never a stale one.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import libvirt

from vdsm.common.errors import VdsmError
from vdsm.virt.context import VirtContext
from vdsm.virt.errors import BadDiskResizeParameter, UpdateDeviceFailed
from vdsm.virt.replication import find_drive
from vdsm.virt.thinprov import read_size
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import running_domain

log = logging.getLogger(__name__)

SECTOR = 512


def parse_size(value: Any) -> int:
    """Bytes from the wire's decimal string (or int); BadDiskResizeParameter
    for anything else or a size that is not positive."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise BadDiskResizeParameter(f"Wrong resize disk parameter: size "
                                     f"{value!r}") from None
    if size <= 0:
        raise BadDiskResizeParameter(f"Wrong resize disk parameter: size {size}")
    return size


def round_up(size: int) -> int:
    """QEMU sizes disks in whole sectors."""
    return (size + SECTOR - 1) // SECTOR * SECTOR


def extend(ctx: VirtContext, vm: Vm, spec: Any, new_size: Any) -> str:
    """Grow the disk of volume ``spec`` to ``new_size`` bytes; the size QEMU
    reports afterwards.

    Raises ImageFileNotFound for an unknown drive, BadDiskResizeParameter
    for a bad or smaller size, UpdateDeviceFailed when libvirt fails."""
    size = parse_size(new_size)
    with vm.lock:
        dom = running_domain(ctx, vm)
        drive = find_drive(vm, spec)
        name = drive["name"]
        current = _capacity(dom, name)
        if drive.get("format") == "cow":
            if size < current:
                raise BadDiskResizeParameter(
                    f"Wrong resize disk parameter: {size} is smaller than "
                    f"{name}'s {current} bytes")
            target = round_up(size)
        else:
            # the SPM grew the volume already: QEMU takes the volume's size
            target = _volume_size(drive.get("path", ""))
            if target != size:
                log.warning("vm %s: %s: asked %d bytes, the volume has %d; "
                            "using the volume's", vm.id, name, size, target)
        record = _volume_recorder(ctx, drive)
        if target != current:
            record(0)
            try:
                dom.blockResize(name, target,
                                libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            except libvirt.libvirtError as e:
                record(current)
                raise UpdateDeviceFailed(f"Failed to update device: resizing "
                                         f"{name} to {target}: "
                                         f"{e.get_error_message()}") from None
        final = _capacity(dom, name)
        record(final)
        vm.log.info("vm %s: %s resized from %d to %d bytes", vm.id, name,
                    current, final)
        return str(final)


def _volume_recorder(ctx: VirtContext, drive: dict[str, Any]
                     ) -> Callable[[int], None]:
    """How the COW volume's metadata capacity follows QEMU's: through
    storage (ctx.chains), for a drive of the image repository; nothing
    for a raw volume (the SPM set it) or a plain path."""
    keys = ("domainID", "imageID", "volumeID")
    if drive.get("format") != "cow" or ctx.chains is None or \
            not all(drive.get(k) for k in keys):
        return lambda size: None
    spec = {k: drive[k] for k in keys + ("poolID",) if k in drive}
    chains = ctx.chains

    def record(size: int) -> None:
        try:
            chains.set_size(spec, size)
        except VdsmError as e:
            raise UpdateDeviceFailed(f"Failed to update device: volume "
                                     f"{spec['volumeID']} size {size}: "
                                     f"{e.message}") from None
    return record


def _capacity(dom: libvirt.virDomain, name: str) -> int:
    try:
        return int(dom.blockInfo(name, 0)[0])
    except libvirt.libvirtError as e:
        raise UpdateDeviceFailed(f"Failed to update device: size of {name}: "
                                 f"{e.get_error_message()}") from None


def _volume_size(path: str) -> int:
    try:
        return read_size(path)
    except OSError as e:
        raise UpdateDeviceFailed(f"Failed to update device: {path}: "
                                 f"{e.strerror}") from None
