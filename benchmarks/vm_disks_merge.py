"""Running VMs' disks (issue 12): figures beside virsh on the same work.

    .venv/bin/python benchmarks/vm_disks.py --section merge

``merge`` section: live merge throughput of an N MiB active layer (1024 by
default) through the agent (VM.merge, a host job, pivot, the volume
metadata synced) beside ``virsh blockcommit --active --pivot --wait`` on
the same guest and the same kind of chain (a file domain of a StorageHost,
volumes by createVolume, the guest filling the layer with dd). Goal: the
agent within 1.2x of virsh. The rig is tests/virt/livemerge_test.py's.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any, Iterator

import libvirt

from tests.storage.helpers import StorageHost, create_pool, loop_ext4, ok
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.conftest import _private_libvirtd, network_namespace
from tests.virt.harness import (
    BOOT_MARK,
    build_guest,
    read_console,
    stats,
    vm_params,
    wait_for,
    wait_status,
)
from tests.virt.livemerge_test import (
    VirtProcess,
    create_volume,
    libvirt_chain,
    live_snapshot,
    merge,
    wait_job,
)
from tests.virt.thinprov_test import guest_exec
from vdsm.storage.constants import BLANK_UUID
from vdsm.virt.domxml.chain import disk_chain

MIB = 1 << 20


@contextlib.contextmanager
def merge_rig(mib: int) -> Iterator[tuple[VirtProcess, dict[str, Any],
                                          dict[str, Any]]]:
    """The agent, the storage names and a booted guest on base <- s1."""
    ensure_vdsm_user()
    guest = build_guest()
    host = StorageHost().start()
    try:
        with loop_ext4(5 * mib + 1024) as device, network_namespace() as netns:
            names = create_pool(host.proxy(), device)
            storage = dict(names, host=host)
            libvirtd = contextlib.contextmanager(_private_libvirtd)(
                netns, qemu_conf={"dynamic_ownership": 0})
            with libvirtd as daemon:
                agent = VirtProcess(daemon.uri, storage)
                agent.start()
                try:
                    yield agent, storage, _boot(agent, storage, guest,
                                                daemon.uri, 2 * mib * MIB)
                finally:
                    agent.root.stop("vdsmd")
                    agent.root.cleanup()
            p = host.proxy()
            ok(p.spmStop(names["sp"]))
            ok(p.disconnectStoragePool(names["sp"], 1, ""))
            ok(p.disconnectStorageServer(6, BLANK_UUID, [names["con"]]))
    finally:
        host.stop()


def _boot(agent: VirtProcess, storage: dict[str, Any], guest: dict[str, Any],
          uri: str, size: int) -> dict[str, Any]:
    img = BLANK_UUID.replace("0", "1")
    base = create_volume(storage, img, None, size)
    s1 = create_volume(storage, img, base, size)
    drive = {"domainID": storage["sd"], "poolID": storage["sp"], "imageID": img,
             "volumeID": s1, "format": "cow", "iface": "virtio",
             "serial": "bench-disk", "propagateErrors": "off"}
    params = vm_params(guest, drives=[drive])
    assert agent.proxy.create(params)["status"]["code"] == 0
    vm_id = params["vmId"]
    wait_status(agent.proxy, vm_id, "Up")
    wait_for(lambda: BOOT_MARK in read_console(agent.root.config.log_dir, vm_id),
             60, "the guest boot")
    wait_for(lambda: stats(agent.proxy, vm_id)["guestAgentConnected"], 30,
             "qemu-ga")
    return {"id": vm_id, "img": img, "drive": drive, "uri": uri,
            "layers": [base, s1], "markers": {}, "agent": agent}


def _fill_new_leaf(vm: dict[str, Any], storage: dict[str, Any], mib: int,
                   offset_mib: int) -> str:
    top = live_snapshot(vm, storage, 2 * mib * MIB)
    result = guest_exec(vm["uri"], vm["id"], f"dd if=/dev/zero of=/dev/vda bs=1M "
                        f"seek={offset_mib} count={mib} oflag=direct 2>&1", 900)
    assert result["rc"] == 0, result
    return top


def _live_xml(vm: dict[str, Any]) -> str:
    conn = libvirt.open(vm["uri"])
    try:
        return conn.lookupByUUIDString(vm["id"]).XMLDesc(0)
    finally:
        conn.close()


def merge_section(mib: int) -> dict[str, float]:
    with merge_rig(mib) as (agent, storage, vm):
        # the agent: VM.merge until the job is done (pivot and metadata sync)
        top = _fill_new_leaf(vm, storage, mib, 0)
        start = time.monotonic()
        job = wait_job(agent, merge(agent, vm, vm["layers"][-2], top), 900)
        agent_s = time.monotonic() - start
        assert job["status"] == "done", job
        print(f"agent: {mib} MiB merged in {agent_s:.2f} s", flush=True)
        vm["layers"].remove(top)
        assert libvirt_chain(vm) == vm["layers"]
        # virsh on the same guest, a new layer of the same size
        top = _fill_new_leaf(vm, storage, mib, mib)
        base_path = disk_chain(_live_xml(vm), "vda")[1]
        start = time.monotonic()
        res = subprocess.run(
            ["virsh", "-c", vm["uri"], "blockcommit", vm["id"], "vda", "--base",
             base_path, "--active", "--pivot", "--keep-relative", "--wait"],
            capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, (res.stdout, res.stderr)
        virsh_s = time.monotonic() - start
        vm["layers"].remove(top)
        assert libvirt_chain(vm) == vm["layers"], (libvirt_chain(vm), vm["layers"])
    figures = {"mib": mib, "agent_s": agent_s, "virsh_s": virsh_s,
               "agent_mib_s": mib / agent_s, "virsh_mib_s": mib / virsh_s,
               "ratio": agent_s / virsh_s}
    print(f"merge of a {mib} MiB active layer: agent {agent_s:.2f} s "
          f"({mib / agent_s:.0f} MiB/s), virsh blockcommit {virsh_s:.2f} s "
          f"({mib / virsh_s:.0f} MiB/s); agent/virsh time {agent_s / virsh_s:.2f} "
          f"(goal <= 1.2)")
    return figures
