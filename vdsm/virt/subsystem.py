"""The virt subsystem: VMs through libvirt, plugged into the agent.

Owns the libvirt connection, the event worker that applies libvirt
events to VMs (events arrive on the libvirt loop thread and are queued
here so that thread never waits), the bulk sampler, and recovery at
start. Stopping the agent leaves every VM running. The agent hands in
storage's drive resolver and asks for ``vm_counts`` (host stats) and
``network_users`` (for the network subsystem); VM status changes go to
the agent's notifier.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vdsm.common.errors import InvalidConfiguration
from vdsm.virt import livemerge, recovery
from vdsm.virt import status as st
from vdsm.virt.connection import Connection, LibvirtUnavailable
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml.domain import HostOptions
from vdsm.virt.drives import DriveResolver
from vdsm.virt.guestagent import GuestAgentPoller
from vdsm.virt.guesttrim import GuestTrim
from vdsm.virt.hostdevs import HostDevices
from vdsm.virt.livemerge import ChainSync
from vdsm.virt.migration.limits import Slots
from vdsm.virt.migration.peer import Peer, PeerCredentials
from vdsm.virt.migration.settings import MigrationSettings
from vdsm.virt.ovirtagent import OvirtAgents
from vdsm.virt.policyguests import PolicyGuests
from vdsm.virt.registry import VmRegistry
from vdsm.virt.sampling import Sampler
from vdsm.virt.service import VirtService
from vdsm.virt.thinprov import Extender, Policy
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import release
from vdsm.virt.volmonitor import VolumeMonitor

if TYPE_CHECKING:
    from vdsm.agent import Agent

log = logging.getLogger(__name__)

DOMAIN_TYPES = ("kvm", "qemu")


def host_options(config: Any) -> HostOptions:
    kind = config.get("vars", "domain_type")
    if kind not in DOMAIN_TYPES:
        raise InvalidConfiguration(f"[vars] domain_type must be kvm or qemu, "
                                   f"not {kind!r}")
    console_dir = None
    if config.get("vars", "vm_console_log"):
        console_dir = os.path.join(config.log_dir, "console")
    interval = config.get("vars", "vm_sample_interval")
    return HostOptions(domain_type=kind, console_log_dir=console_dir,
                       balloon_stats_period=max(1, int(interval)),
                       channel_dir=config.get("vars", "vm_channel_dir") or None)


def network_users(vms: list[Vm], network: str) -> list[str]:
    """Ids of the ``vms`` not Down whose definition has a NIC on ``network``."""
    return [vm.id for vm in vms if not vm.is_down and any(
        dev.get("type") == "interface" and dev.get("network") == network
        for dev in vm.devices)]


class VirtSubsystem:
    name = "virt"

    def __init__(self, agent: Agent, *,
                 resolver: DriveResolver | None = None) -> None:
        config = agent.config
        self._events: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        conn = Connection(config.get("vars", "libvirt_uri"),
                          on_event=self._queue_event,
                          on_reconnect=self._reconnected)
        self.ctx = VirtContext(
            conn=conn, hooks=agent.hooks, options=host_options(config),
            registry=VmRegistry(), resolver=resolver,
            shutdown_timeout=config.get("vars", "user_shutdown_timeout"),
            publisher=agent.notifier)
        self._setup_migration(config)
        self.service = VirtService(self.ctx)
        self.sampler = Sampler(self.ctx,
                               interval=config.get("vars", "vm_sample_interval"),
                               timeout=config.get("vars", "vm_sample_timeout"))
        self.guest_agent = GuestAgentPoller(
            self.ctx, interval=config.get("vars", "guest_agent_interval"),
            timeout=config.get("vars", "guest_agent_timeout"))
        self.ctx.guest_agent_timeout = config.get("vars", "guest_agent_timeout")
        self.volumes = VolumeMonitor(
            self.ctx, policy=Policy.from_config(config),
            interval=config.get("vars", "vm_watermark_interval"))
        self.ctx.extend_now = self.volumes.extend_now
        self.ctx.thin_chunk = self.volumes.policy.chunk
        self.ctx.ovirt_agents = OvirtAgents(
            self.ctx, timeout=self.ctx.guest_agent_timeout)
        self.ctx.jobs = agent.jobs
        # what the host's policy engine balloons and tunes (issue 14)
        self.policy_guests = PolicyGuests(self.ctx)
        # sparsifyImage of an attached volume trims the guest (issue 13)
        self.guest_trim = GuestTrim(self.ctx)

    def _setup_migration(self, config: Any) -> None:
        settings = MigrationSettings.from_config(config)
        creds = PeerCredentials(config.ca_cert, config.host_cert,
                                config.host_key,
                                use_tls=bool(config.get("vars", "ssl")))
        self.ctx.migration = settings
        self.ctx.outgoing = Slots(settings.max_outgoing)
        self.ctx.incoming = Slots(settings.max_incoming)
        self.ctx.peers = lambda host, port: Peer(host, port, creds,
                                                 settings.create_timeout)

    def set_drive_resolver(self, resolver: DriveResolver) -> None:
        """Drives given as volume ids go through ``resolver`` (storage's),
        unless one was handed to the constructor; before start."""
        if self.ctx.resolver is None:
            self.ctx.resolver = resolver

    def set_volume_chains(self, chains: ChainSync) -> None:
        """After a live merge the volume metadata follows through ``chains``
        (storage's); without one only the VM's drive follows."""
        if self.ctx.chains is None:
            self.ctx.chains = chains

    def set_host_devices(self, hostdevs: HostDevices) -> None:
        """hotplugHostdev/hotunplugHostdev detach and reattach through
        ``hostdevs`` (the agent's, over this subsystem's connection)."""
        self.service.hostdevs = hostdevs

    def set_admission(self, check: Callable[[], None]) -> None:
        """New VMs (create, incoming migrations) pass ``check`` first; it
        raises to refuse them (after prepareForShutdown)."""
        self.service.admission = check

    def set_volume_extender(self, extender: Extender) -> None:
        """Thin block volumes of running VMs grow through ``extender``
        (storage's); without one they are watched but never extended."""
        if self.ctx.extender is None:     # the volume monitor's too
            self.ctx.extender = extender

    # --- life cycle ------------------------------------------------------
    def start(self) -> None:
        if self.ctx.options.console_log_dir:
            os.makedirs(self.ctx.options.console_log_dir, exist_ok=True)
        self.make_channel_dir()
        self._worker = threading.Thread(target=self._work, daemon=True,
                                        name="virt-events")
        self._worker.start()
        try:
            self.ctx.conn.open()
        except LibvirtUnavailable as e:
            log.error("%s; will keep trying", e.message)
            self.ctx.conn.open_in_background()
        else:
            recovery.recover(self.ctx)
        self.sampler.start()
        self.volumes.start()
        self.guest_agent.start()
        self.ctx.ovirt_agents.start()

    def make_channel_dir(self) -> None:
        """The oVirt agent sockets' directory; when it cannot be made,
        libvirt picks the sockets' paths (the reader finds them anyway)."""
        if not self.ctx.options.channel_dir:
            return
        try:
            os.makedirs(self.ctx.options.channel_dir, exist_ok=True)
        except OSError as e:
            log.warning("cannot make the channel directory: %s", e)
            self.ctx.options = dataclasses.replace(self.ctx.options,
                                                   channel_dir=None)

    def stop(self) -> None:
        """Stop monitoring; the VMs keep running (recovered next start)."""
        self.guest_agent.stop()
        if self.ctx.ovirt_agents is not None:
            self.ctx.ovirt_agents.stop()
        self.sampler.stop()
        self.volumes.stop()
        self.ctx.conn.close()
        self._events.put(None)
        if self._worker is not None:
            self._worker.join(10)

    # --- what the agent asks of a subsystem ------------------------------
    def vm_counts(self) -> dict[str, Any]:
        vms = self.ctx.registry.all()
        active = [vm for vm in vms if vm.status in st.RUNNING_STATES
                  or vm.status == st.PAUSED]
        outgoing = sum(vm.status == st.MIGRATION_SOURCE for vm in vms)
        incoming = sum(vm.status == st.MIGRATION_DESTINATION for vm in vms)
        return {"vmCount": len(vms), "vmActive": len(active),
                "vmMigrating": outgoing + incoming,
                "incomingVmMigrations": incoming,
                "outgoingVmMigrations": outgoing}

    def network_users(self, network: str) -> list[str]:
        """Ids of the VMs not Down with a NIC on ``network`` (its bridge)."""
        return network_users(self.ctx.registry.all(), network)

    # --- events ----------------------------------------------------------
    def _queue_event(self, kind: str, vm_id: str, *args: Any) -> None:
        self._events.put((time.monotonic(), kind, vm_id, *args))

    def _work(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            try:
                self._handle(*item)
            except Exception:
                log.exception("handling libvirt event %s failed", item)

    def _handle(self, queued: float, kind: str, vm_id: str, *args: Any) -> None:
        vm = self.ctx.registry.find(vm_id)
        if vm is None:
            return
        if queued < vm.known_since:
            # about an earlier VM of this id (a hibernated one, destroyed and
            # created again from its state before this event was handled)
            log.debug("vm %s: dropping stale %s event %s", vm_id, kind, args)
            return
        if kind == "lifecycle":
            vm.on_lifecycle(*args)
        elif kind == "io_error":
            vm.on_io_error(*args)
            self.volumes.on_io_error(vm, args[0], args[2])
        elif kind == "block_threshold":
            self.volumes.on_threshold(vm, *args)
        elif kind == "agent":
            vm.on_agent(args[0])
        elif kind == "job_completed":
            vm.completed_job = args[0]   # e.g. a migration's real downtime
        elif kind == "block_job":
            livemerge.on_block_job(vm, *args)
        if vm.is_down:
            release(self.ctx, vm)

    def _reconnected(self) -> None:
        log.info("libvirt is back; resynchronizing VM statuses")
        recovery.resync(self.ctx)
