"""sparsifyImage of a volume a running VM has attached (issue 13): the
guest trims its own file systems through qemu-guest-agent, the image is
never rewritten.

One vdsmd runs storage and virt together (tests/virt/trim_vdsmd.py, the
real agent's _connect_subsystems seam), SPM of a pool on a loop ext4,
against a private libvirtd. A TCG guest gets a 256 MiB RAW sparse volume
of the pool as a disk with ``discard: true`` (ext4 made on the host,
mounted on /mnt/test by the guest's init); it keeps a small file, writes
200 MiB, syncs, deletes it and syncs, the file system still mounted.
sparsifyImage while the VM runs must give back >= 150 MiB (st_blocks),
keep the same file (inode: not rewritten), the VM Up and the small file
intact. With the guest's agent stopped, the task fails with the classic
NonResponsiveGuestAgent (19) and the volume is untouched.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import libvirt
import pytest

from tests.virt.harness import wait_for, wait_status
from tests.virt.thinprov_test import _agent, guest_exec
from tests.virt.trimrig import (
    MIB,
    NoLibvirt,
    agent_pings,
    host_with_volume,
    running_guest,
    sparsify,
    write_delete,
)

SIZE = 256 * MIB
KEEP = "keep-me-intact-0123456789"


@pytest.fixture(scope="module")
def rig(netns: str, guest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    try:
        with host_with_volume(netns, SIZE) as rig:
            yield rig
    except NoLibvirt as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def running(rig: dict[str, Any], guest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The VM with the volume attached with discard, 200 MiB written and
    deleted inside."""
    with running_guest(rig, guest) as vm_id:
        result = guest_exec(rig["uri"], vm_id, write_delete(200, keep=KEEP),
                            timeout=180)
        assert result["rc"] == 0 and "done" in result["out"], result
        yield dict(rig, vm_id=vm_id)


def test_disk_xml_passes_discard(running):
    conn = libvirt.open(running["uri"])
    try:
        xml = conn.lookupByUUIDString(running["vm_id"]).XMLDesc(0)
    finally:
        conn.close()
    assert "discard='unmap'" in xml, xml


def test_the_running_guest_is_trimmed_not_rewritten(running):
    path = running["path"]
    st = os.stat(path)
    before = st.st_blocks * 512
    assert before >= 200 * MIB, before
    status = sparsify(running)
    assert status["taskResult"] == "success", status
    after_st = os.stat(path)
    after = after_st.st_blocks * 512
    print(f"attached sparsify: {before / MIB:.0f} MiB -> {after / MIB:.0f} MiB")
    assert before - after >= 150 * MIB, (before, after)
    assert after_st.st_ino == st.st_ino        # the same file: not rewritten
    assert after_st.st_size == SIZE
    wait_status(running["proxy"], running["vm_id"], "Up", timeout=5)
    out = guest_exec(running["uri"], running["vm_id"], "cat /mnt/test/keep",
                     timeout=30)
    assert out["rc"] == 0 and out["out"].strip() == KEEP, out


def test_without_guest_agent_classic_error_nothing_rewritten(running):
    """Runs last in the module: it stops the guest's agent."""
    uri, vm_id, path = running["uri"], running["vm_id"], running["path"]
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(vm_id)
        # the agent answers this exec and dies a second later
        _agent(dom, {"execute": "guest-exec", "arguments": {
            "path": "/bin/sh",
            "arg": ["-c", "(sleep 1; killall qemu-ga) >/dev/null 2>&1 &"]}})
    finally:
        conn.close()
    wait_for(lambda: not agent_pings(uri, vm_id), 30, "the agent gone",
             interval=0.5)
    st = os.stat(path)
    status = sparsify(running)
    # a failed task with nothing to roll back ends "cleanSuccess" (classic)
    assert status["taskResult"] != "success", status
    assert status["code"] == 19, status            # NonResponsiveGuestAgent
    after = os.stat(path)
    # not rewritten (a sparsify by qemu-img renames a new file over it); its
    # blocks and mtime are the running guest's to change (ext4 commits its
    # journal every 5 s), so they are not compared
    assert (after.st_ino, after.st_size) == (st.st_ino, st.st_size)
    wait_status(running["proxy"], vm_id, "Up", timeout=5)
