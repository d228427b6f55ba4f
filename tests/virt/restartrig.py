"""A guest whose agent a test can restart (recovery reads the VM back from
the domain): shared by the QoS and hotplug tests. Every wait is bounded."""

from __future__ import annotations

from typing import Any, Iterator

import libvirt

from tests.virt.harness import (
    VirtAgent,
    destroy_quietly,
    stats,
    wait_booted,
    wait_for,
    wait_status,
)


class Rig:
    """The guest's in-process agent (replaced on restart) and the guest."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.agent = VirtAgent(uri)
        self.vm_id = ""

    @property
    def proxy(self) -> Any:
        return self.agent.proxy

    def restart(self) -> None:
        """Stop the agent (the guest runs on) and start a new one."""
        root = self.agent.root
        self.agent.stop()
        self.agent = VirtAgent(self.uri, root=root)

    def domain(self) -> tuple[libvirt.virConnect, libvirt.virDomain]:
        conn = libvirt.open(self.uri)
        return conn, conn.lookupByUUIDString(self.vm_id)


def running_rig(uri: str, params: dict[str, Any]) -> Iterator[Rig]:
    """For a fixture to yield: the VM of ``params`` Up, booted, its qemu-ga
    connected; destroyed and the agent stopped on exit."""
    rig = Rig(uri)
    rig.vm_id = params["vmId"]
    try:
        answer = rig.proxy.create(params)
        assert answer["status"]["code"] == 0, answer
        wait_status(rig.proxy, rig.vm_id, "Up")
        wait_booted(rig.agent, rig.vm_id)
        wait_for(lambda: stats(rig.proxy, rig.vm_id)["guestAgentConnected"],
                 30, "qemu-ga in the guest")
        yield rig
    finally:
        rig.agent.stop()
        destroy_quietly(uri, [rig.vm_id])
        rig.agent.root.cleanup()
