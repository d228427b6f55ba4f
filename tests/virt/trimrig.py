"""One host running storage and virt together (tests/virt/trim_vdsmd.py),
SPM of a pool on a loop ext4, a RAW volume holding an ext4, and a TCG
guest with the volume attached with ``discard``: for sparsifyImage of an
attached volume, shared by its test and its benchmark."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import libvirt

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.harness import (
    agent_overrides,
    read_console,
    vm_params,
    wait_for,
    wait_status,
)
from tests.virt.privlibvirt import PrivateLibvirt
from tests.virt.thinprov_test import _agent, guest_exec
from vdsm.common import commands

MIB = 1 << 20
RAW, SPARSE = 5, 2


class NoLibvirt(RuntimeError):
    """The private libvirtd did not start (the caller skips)."""


@contextlib.contextmanager
def host_with_volume(netns: str, size: int, *,
                     loop_mb: int = 512) -> Iterator[dict[str, Any]]:
    """The host, its pool and a ``size`` RAW volume with an ext4, then its
    libvirtd (started after the pool's mount so that its mount namespace
    sees it). Raises NoLibvirt."""
    ensure_vdsm_user()
    # the vdsm user's vdsmd talks to a root libvirtd; the volume stays the
    # vdsm user's (libvirt's chown would hide it from the storage side)
    lv = PrivateLibvirt(netns=netns, qemu_conf={"dynamic_ownership": 0},
                        libvirtd_conf={"unix_sock_rw_perms": "0777",
                                       "auth_unix_rw": "none"})
    overrides = agent_overrides(lv.uri)
    del overrides[("addresses", "management_port")]
    host = StorageHost(overrides, vdsmd_module="tests.virt.trim_vdsmd").start()
    try:
        p = host.proxy()
        with loop_ext4(loop_mb) as device:
            names = create_pool(p, device)
            img, vol = new_uuid(), new_uuid()
            sd, sp = names["sd"], names["sp"]
            task = ok(p.createVolume(sd, sp, img, size, RAW, SPARSE, "DATA", vol,
                                     "attached"))["uuid"]
            assert wait_task(p, task)["taskResult"] == "success"
            path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
            commands.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path],
                         timeout=60)
            try:
                try:
                    lv.start()
                except (RuntimeError, OSError, commands.CommandError) as e:
                    raise NoLibvirt(f"cannot start a private libvirtd: {e}") from e
                yield dict(names, host=host, img=img, vol=vol, path=path,
                           uri=lv.uri, proxy=p)
            finally:
                lv.stop()
                lv.cleanup()
                ok(p.spmStop(sp))
                ok(p.disconnectStoragePool(sp, 1, ""))
                ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


@contextlib.contextmanager
def running_guest(rig: dict[str, Any], guest: dict[str, Any]) -> Iterator[str]:
    """The VM (its id) with the volume as a ``discard`` disk mounted on
    /mnt/test and its agent answering; destroyed afterwards."""
    p = rig["proxy"]
    params = vm_params(guest, drives=[{"path": rig["path"], "format": "raw",
                                       "serial": "vdsm-fs-test",
                                       "discard": True}])
    vm_id = params["vmId"]
    # the virt side reaches the libvirtd started after it within a while
    wait_for(lambda: p.create(params)["status"]["code"] == 0, 30,
             "the VM created", interval=0.5)
    log_dir = rig["host"].config.log_dir
    try:
        wait_status(p, vm_id, "Up")
        wait_for(lambda: "VDSM-TEST-GUEST mounted /mnt/test"
                 in read_console(log_dir, vm_id), 60, "the volume mounted")
        wait_for(lambda: agent_answers(rig["uri"], vm_id), 60,
                 "qemu-guest-agent in the guest", interval=0.5)
        yield vm_id
    finally:
        p.destroy(vm_id)


def agent_answers(uri: str, vm_id: str) -> bool:
    try:
        return guest_exec(uri, vm_id, "true", timeout=10)["rc"] == 0
    except libvirt.libvirtError:
        return False      # not connected yet


def agent_pings(uri: str, vm_id: str) -> bool:
    conn = libvirt.open(uri)
    try:
        _agent(conn.lookupByUUIDString(vm_id), {"execute": "guest-ping"})
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def write_delete(mib: int, *, keep: str = "") -> str:
    """A guest script: ``mib`` MiB of non-zero data (an 8 MiB random
    pattern repeated: urandom is slow under TCG) written, synced, deleted,
    synced; the file system stays mounted."""
    first = f"echo {keep} > /mnt/test/keep && " if keep else ""
    return (first + "dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null && "
            f"for i in $(seq {mib // 8}); do cat /tmp/pat; done > /mnt/test/big && "
            "sync && rm /mnt/test/big /tmp/pat && sync && echo done")


def sparsify(rig: dict[str, Any]) -> dict[str, Any]:
    p = rig["proxy"]
    task = ok(p.sparsifyImage(rig["sp"], rig["sd"], rig["img"], rig["vol"]))["uuid"]
    return wait_task(p, task, timeout=120)
