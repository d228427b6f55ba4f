"""Running VMs' disks on real TCG guests, beside virsh on the same work.

Section "snapshot" (issue 12, live snapshot): a guest with N qcow2 disks
(default 4) takes R live snapshots through the agent's ``snapshot`` verb
(new leaves made with qemu-img beforehand, as the SPM would), and a
second such guest the same through ``virsh snapshot-create-as
--disk-only --reuse-external --no-metadata --atomic --quiesce`` (virsh
freezes and thaws through qemu-ga as the agent does). Printed: median
wall time per snapshot for both and their ratio (goal <= 1.2), and how
long the agent kept the guest frozen (its freeze and thaw log records;
goal < 1 s for 4 disks). The test guest's only file system is its
initramfs, which qemu-ga does not freeze: the frozen window is the agent
round trips and the snapshot, not a flush of guest data.

The agent's drive resolver here maps volume ids to files of a temporary
directory (no storage pool): the figures are the virt side's, without
prepareImage round trips.

    .venv/bin/python benchmarks/vm_disks.py --section snapshot [--rounds 5]
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import libvirt  # noqa: E402

from tests.virt.harness import (  # noqa: E402
    VirtAgent,
    stats,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from tests.virt.privlibvirt import PrivateLibvirt  # noqa: E402
from vdsm.common import commands  # noqa: E402

MiB = 1 << 20
DOMAIN = "bench-sd"


class DirResolver:
    """Volume ids -> <dir>/<imageID>/<volumeID>; nothing to activate."""

    def __init__(self, root: str) -> None:
        self.root = root

    def prepare(self, drive: dict[str, Any]) -> str:
        return os.path.join(self.root, drive["imageID"], drive["volumeID"])

    def teardown(self, drive: dict[str, Any]) -> None:
        """Files: nothing to release."""


class FreezeClock(logging.Handler):
    """The times of the guest file system freeze and thaw records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.frozen: list[float] = []
        self.thawed: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith(" frozen"):
            self.frozen.append(record.created)
        elif message.endswith(" thawed"):
            self.thawed.append(record.created)


def _qcow2(path: str, backing: str | None = None) -> None:
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-b", os.path.basename(backing), "-F", "qcow2"]
    commands.run(argv + [path, str(64 * MiB)], timeout=30)


def _guest_vm(agent: VirtAgent, guest: dict[str, Any], root: str,
              disks: int) -> tuple[str, list[dict[str, Any]]]:
    drives = []
    for _ in range(disks):
        img, vol = str(uuid.uuid4()), str(uuid.uuid4())
        os.makedirs(os.path.join(root, img))
        _qcow2(os.path.join(root, img, vol))
        drives.append({"domainID": DOMAIN, "poolID": "bench-sp", "imageID": img,
                       "volumeID": vol, "format": "cow", "iface": "virtio",
                       "cache": "none", "propagateErrors": "off"})
    params = vm_params(guest, drives=drives)
    assert agent.proxy.create(params)["status"]["code"] == 0
    wait_status(agent.proxy, params["vmId"], "Up")
    wait_booted(agent, params["vmId"])
    wait_for(lambda: stats(agent.proxy, params["vmId"])["guestAgentConnected"],
             30, "qemu-ga connected")
    return params["vmId"], drives


def _new_leaf(root: str, img: str, current: str) -> str:
    vol = str(uuid.uuid4())
    _qcow2(os.path.join(root, img, vol), os.path.join(root, img, current))
    return vol


def snapshot_section(agent: VirtAgent, guest: dict[str, Any], uri: str,
                     root: str, rounds: int, disks: int) -> dict[str, Any]:
    clock = FreezeClock()
    ops_log = logging.getLogger("vdsm.virt.guestops")
    ops_log.addHandler(clock)
    ops_log.setLevel(logging.INFO)
    ops_log.propagate = False
    try:
        ours, our_drives = _guest_vm(agent, guest, root, disks)
        theirs, their_drives = _guest_vm(agent, guest, root, disks)
        names = [f"vd{chr(ord('a') + i)}" for i in range(disks)]
        agent_times, virsh_times = [], []
        for i in range(rounds + 1):      # the first round warms up
            entries = []
            for drive in our_drives:
                new = _new_leaf(root, drive["imageID"], drive["volumeID"])
                entries.append({"domainID": DOMAIN, "imageID": drive["imageID"],
                                "baseVolumeID": drive["volumeID"],
                                "volumeID": new})
                drive["volumeID"] = new
            start = time.monotonic()
            answer = agent.proxy.snapshot(ours, entries)
            agent_times.append(time.monotonic() - start)
            assert answer["status"]["code"] == 0, answer

            argv = ["virsh", "-q", "-c", uri, "snapshot-create-as", theirs,
                    "--disk-only", "--reuse-external", "--no-metadata",
                    "--atomic", "--quiesce"]
            for name, drive in zip(names, their_drives, strict=True):
                new = _new_leaf(root, drive["imageID"], drive["volumeID"])
                drive["volumeID"] = new
                path = os.path.join(root, drive["imageID"], new)
                argv += ["--diskspec", f"{name},snapshot=external,file={path}"]
            start = time.monotonic()
            subprocess.run(argv, check=True, capture_output=True, timeout=120)
            virsh_times.append(time.monotonic() - start)
            if i == 0:
                agent_times.clear()
                virsh_times.clear()
                clock.frozen.clear()
                clock.thawed.clear()
        frozen = [t - f for f, t in zip(clock.frozen, clock.thawed, strict=True)]
        agent_med, virsh_med = (statistics.median(agent_times),
                                statistics.median(virsh_times))
        return {"disks": disks, "rounds": rounds,
                "agent_snapshot_ms": round(agent_med * 1000, 1),
                "virsh_snapshot_ms": round(virsh_med * 1000, 1),
                "ratio_agent_to_virsh": round(agent_med / virsh_med, 2),
                "guest_frozen_ms_median": round(statistics.median(frozen) * 1000, 1),
                "guest_frozen_ms_max": round(max(frozen) * 1000, 1)}
    finally:
        ops_log.removeHandler(clock)
        ops_log.propagate = True


def snapshot(guest: dict[str, Any], rounds: int, disks: int = 4) -> dict[str, Any]:
    """The ``snapshot`` section of benchmarks/vm_disks.py."""
    instance = PrivateLibvirt()
    instance.start()
    root = tempfile.mkdtemp(prefix="vm-disks-bench-", dir="/var/tmp")
    agent = None
    try:
        agent = VirtAgent(instance.uri)
        agent.virt.set_drive_resolver(DirResolver(root))
        return {"guest": "real TCG QEMU guests, qcow2 files on /var/tmp",
                **snapshot_section(agent, guest, instance.uri, root, rounds, disks)}
    finally:
        if agent is not None:
            ids = [vm.id for vm in agent.virt.ctx.registry.all()]
            agent.stop()
            conn = libvirt.open(instance.uri)
            for vm_id in ids:
                try:
                    conn.lookupByUUIDString(vm_id).destroy()
                except libvirt.libvirtError:
                    pass
            conn.close()
            agent.root.cleanup()
        instance.stop()
        instance.cleanup()
        shutil.rmtree(root, ignore_errors=True)
