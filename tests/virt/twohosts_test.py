"""The two-hosts rig: a real TCG guest started through host A's agent
moves to host B with plain libvirt (peer-to-peer live migration) and
keeps running there; A's agent reports it gone (Down, MigrationSucceeded)
and an agent started on B afterwards recovers it as Up.

The migrate verb is not here yet: this proves the rig the migration
tests will drive (two libvirts, their TCP link, one console file both
QEMUs append to).
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

import libvirt
import pytest

from vdsm.common import commands
from vdsm.virt import status

from .harness import (
    VirtAgent,
    destroy_quietly,
    running_agent,
    uptime,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from .twohosts import TwoHosts

MIGRATE_TIMEOUT = 30  # s; measured ~1 s for this guest


@pytest.fixture
def agent_a(two_hosts: TwoHosts, guest: dict[str, Any]) -> Iterator[VirtAgent]:
    yield from running_agent(two_hosts.a.uri)


def _domain_on(uri: str, vm_id: str) -> libvirt.virDomain | None:
    conn = libvirt.open(uri)
    try:
        return conn.lookupByUUIDString(vm_id)
    except libvirt.libvirtError:
        return None


def test_hosts_have_distinct_uuids_and_reach_each_other_over_tcp(two_hosts):
    uuids = set()
    for host in two_hosts.hosts:
        conn = libvirt.open(host.uri)
        try:
            uuids.add(conn.getCapabilities().split("<uuid>")[1].split("<")[0])
        finally:
            conn.close()
    assert len(uuids) == 2  # else libvirt refuses "migrate to the same host"
    # B's TCP listener answers from inside A's namespace, and back.
    for host, peer in (two_hosts.hosts, tuple(reversed(two_hosts.hosts))):
        res = commands.run(["ip", "netns", "exec", host.netns, "virsh", "-c",
                            peer.tcp_uri, "hostname"], timeout=20, check=False)
        assert res.rc == 0, res.err


def _virsh_a_to_b(rig: TwoHosts) -> commands.CommandResult:
    return commands.run(["ip", "netns", "exec", rig.a.netns, "virsh", "-c",
                         rig.b.tcp_uri, "hostname"], timeout=20, check=False)


def test_link_down_cuts_the_hosts_apart_and_up_joins_them(two_hosts):
    two_hosts.set_link(False)
    try:
        res = _virsh_a_to_b(two_hosts)
        assert res.rc != 0
    finally:
        two_hosts.set_link(True)
    assert _virsh_a_to_b(two_hosts).rc == 0


def test_failed_start_leaves_no_namespace():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    rig = TwoHosts()
    # B's namespace name is taken: the start fails after A's was made.
    commands.run(["ip", "netns", "add", rig.b.netns], timeout=10)
    try:
        with pytest.raises(RuntimeError):
            rig.start()
        rig.stop()
        listed = commands.run(["ip", "netns", "list"], timeout=10).out
        assert rig.a.netns not in listed
        assert rig.b.netns in listed  # not ours to delete
    finally:
        commands.run(["ip", "netns", "delete", rig.b.netns], timeout=10,
                     check=False)


def test_live_migration_a_to_b_keeps_the_guest_running(two_hosts, agent_a, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    try:
        answer = agent_a.proxy.create(params)
        assert answer["status"]["code"] == 0, answer
        wait_status(agent_a.proxy, vm_id, "Up")
        wait_booted(agent_a, vm_id)
        wait_for(lambda: uptime(agent_a, vm_id) > 0, 20, "the uptime counter")

        dom = _domain_on(two_hosts.a.uri, vm_id)
        assert dom is not None
        started = time.monotonic()
        dom.migrateToURI3(two_hosts.b.tcp_uri, {},
                          libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER)
        took = time.monotonic() - started
        assert took < MIGRATE_TIMEOUT

        # Exactly one libvirt has it: running on B, gone from A.
        on_b = _domain_on(two_hosts.b.uri, vm_id)
        assert on_b is not None
        assert on_b.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert _domain_on(two_hosts.a.uri, vm_id) is None

        # The guest keeps counting on B (same console file, appended).
        after = uptime(agent_a, vm_id)
        wait_for(lambda: uptime(agent_a, vm_id) >= after + 2, 20,
                 "the uptime counter to keep increasing on B")

        # What A's agent makes of a domain that left by migration today:
        # Down, exit reason MigrationSucceeded, normal exit code.
        down = wait_status(agent_a.proxy, vm_id, "Down", timeout=10)
        assert down["exitReason"] == status.MIGRATION_SUCCEEDED, down
        assert down["exitCode"] == status.NORMAL, down
        # An agent that starts on B afterwards recovers the VM there as Up
        # (from the metadata A's agent put in the domain XML).
        agent_b = VirtAgent(two_hosts.b.uri)
        try:
            wait_status(agent_b.proxy, vm_id, "Up", timeout=10)
            listed = agent_b.proxy.list()["vmList"]
            assert listed == [{"vmId": vm_id, "status": "Up",
                               "vmName": params["vmName"]}], listed
        finally:
            agent_b.stop()
            agent_b.root.cleanup()
        print(f"migration took {took:.2f} s; A reports {down['status']} "
              f"{down['exitReason']} {down.get('exitMessage')!r}")
    finally:
        destroy_quietly(two_hosts.b.uri, [vm_id])
