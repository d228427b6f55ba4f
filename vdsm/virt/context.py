"""What every VM operation needs, gathered once by the subsystem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from vdsm.common.events import NullPublisher, Publisher
from vdsm.host.jobs import JobRegistry
from vdsm.virt.connection import Connection
from vdsm.virt.domxml.domain import HostOptions
from vdsm.virt.drives import DriveResolver
from vdsm.virt.migration.limits import Slots
from vdsm.virt.migration.peer import Peer
from vdsm.virt.migration.settings import MigrationSettings
from vdsm.virt.registry import VmRegistry

if TYPE_CHECKING:
    from vdsm.virt.livemerge import ChainSync
    from vdsm.virt.ovirtagent import OvirtAgents
    from vdsm.virt.thinprov import Extender


@dataclass
class VirtContext:
    conn: Connection
    hooks: Any                      # vdsm.common.hooks.Hooks
    options: HostOptions
    registry: VmRegistry
    resolver: DriveResolver | None = None
    shutdown_timeout: float = 30.0
    operation_timeout: float = 60.0
    publisher: Publisher = field(default_factory=NullPublisher)  # VM_status
    migration: MigrationSettings = field(default_factory=MigrationSettings)
    outgoing: Slots = field(default_factory=lambda: Slots(2))
    incoming: Slots = field(default_factory=lambda: Slots(2))
    peers: Callable[[str, int], Peer] | None = None  # destination agents
    guest_agent_timeout: float = 5.0   # seconds a guest agent call may take
    ovirt_agents: OvirtAgents | None = None  # oVirt agent channels, if started
    # the host jobs registry (live merge): the agent's, handed in
    jobs: JobRegistry = field(default_factory=JobRegistry)
    chains: ChainSync | None = None    # storage's metadata sync after a merge
    # the volume monitor's extend_now(vm, drive name): a thin drive (or
    # its thin replica) grown by a chunk ahead of need
    extend_now: Callable[[Any, str], bool] | None = None
    # storage's volume extender (the volume monitor's too) and its chunk:
    # a live merge grows a thin block base with it before committing
    extender: Extender | None = None
    thin_chunk: int = 0
