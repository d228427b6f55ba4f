"""The agent: builds the services and the API from one configuration.

The daemon process (:mod:`vdsm.daemon`) owns process concerns (logging,
signals, privileges); this class owns what the API serves, so a test can
run a whole agent in-process on port 0 under a temporary root.

Subsystems (virt, storage, network) plug in through :class:`Subsystem`:
each is built from the agent (for the shared services: config, supervdsm,
tasks, hooks, notifier, error_code) and is started after and stopped
before the core services. The agent then hands each subsystem what it
needs of another (typed callables, never name lookups) and asks
:mod:`vdsm.api.wiring` for the API handlers over the services.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, cast

from vdsm.api import metrics, schema, wiring
from vdsm.api.dispatcher import Dispatcher, error_code
from vdsm.api.server import ApiServer, Limits
from vdsm.api.stomp_server import event_sink
from vdsm.common import hooks, pki
from vdsm.common.errors import InvalidConfiguration
from vdsm.common.events import Notifier
from vdsm.config import Config
from vdsm.host.fencing.service import FencingService
from vdsm.host.hostdev.service import HostdevService
from vdsm.host.jobs import JobRegistry
from vdsm.host.maintenance import Maintenance
from vdsm.host.service import CapabilityExtender, HostService
from vdsm.host.stats import HostStatsSampler
from vdsm.supervdsm.client import SupervdsmClient
from vdsm.tasks.manager import TaskManager

if TYPE_CHECKING:
    from vdsm.host.policy.subsystem import PolicySubsystem
    from vdsm.network.subsystem import NetworkSubsystem
    from vdsm.storage.subsystem import StorageSubsystem
    from vdsm.virt.subsystem import VirtSubsystem

log = logging.getLogger(__name__)


class Subsystem(Protocol):
    """What a subsystem offers the agent."""

    name: str

    def start(self) -> None:
        """Start background work and recover state; called once."""

    def stop(self) -> None:
        """Stop background work, bounded in time; called once."""


SubsystemFactory = Callable[["Agent"], Subsystem]

# "module:callable" of every subsystem the daemon runs, in start order.
DEFAULT_SUBSYSTEMS: tuple[str, ...] = (
    "vdsm.network.subsystem:NetworkSubsystem",
    "vdsm.storage.subsystem:StorageSubsystem",
    "vdsm.virt.subsystem:VirtSubsystem",
    "vdsm.host.policy.subsystem:PolicySubsystem",  # after virt: its guests
)


def load_factories(specs: Iterable[str]) -> list[SubsystemFactory]:
    factories = []
    for spec in specs:
        module, _, attr = spec.partition(":")
        factories.append(getattr(importlib.import_module(module), attr))
    return factories


def is_loopback(address: str) -> bool:
    if address in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def api_limits(config: Config) -> Limits:
    """The listener's bounds from the [rpc] section."""
    rpc = {name: config.get("rpc", name) for name in (
        "worker_threads", "request_queue_size", "max_request_bytes",
        "connection_timeout", "handshake_timeout", "idle_timeout",
        "max_connections", "max_connections_per_address",
        "max_pending_bytes", "stomp_heartbeat_ms")}
    return Limits(
        workers=rpc["worker_threads"], queue_size=rpc["request_queue_size"],
        max_request_bytes=rpc["max_request_bytes"],
        handshake_timeout=rpc["handshake_timeout"],
        request_timeout=rpc["connection_timeout"],
        idle_timeout=rpc["idle_timeout"],
        max_connections=rpc["max_connections"],
        max_connections_per_address=rpc["max_connections_per_address"],
        max_pending_bytes=rpc["max_pending_bytes"],
        heartbeat_ms=rpc["stomp_heartbeat_ms"])


class Agent:
    """Every service of a running agent, and the API server over them."""

    def __init__(self, config: Config, *,
                 subsystems: Iterable[SubsystemFactory] | None = None,
                 revoke_signal: int | None = None) -> None:
        """``revoke_signal``: the signal the daemon handles by calling
        :meth:`leases_revoked` (None: leases are taken back by SIGTERM)."""
        self.config = config
        self.revoke_signal = revoke_signal
        self.start_time = time.monotonic()
        self.schema = schema.load()
        self.notifier = Notifier()
        self.error_code = error_code
        self.hooks = hooks.Hooks.from_config(config)
        self.supervdsm = SupervdsmClient(
            config.supervdsm_socket, timeout=config.get("supervdsm", "timeout"))
        self.tasks = TaskManager(
            config.get("vars", "task_workers"),
            persist_dir=os.path.join(config.state_dir, "tasks"),
            error_code=error_code, publisher=self.notifier)
        # TaskManager or a facade with its verb methods (the pool's tasks)
        self.task_managers: list[Any] = [self.tasks]
        self._last_call = time.monotonic()
        self.jobs = JobRegistry()   # before the subsystems: they register jobs
        if subsystems is None:
            subsystems = load_factories(DEFAULT_SUBSYSTEMS)
        self.subsystems: dict[str, Subsystem] = {}
        for factory in subsystems:
            sub = factory(self)
            self.subsystems[sub.name] = sub
        self.host_stats = HostStatsSampler(
            config.get("vars", "host_stats_interval"), **self._stats_sources())
        self.host = HostService(config, hooks=self.hooks,
                                supervdsm=self.supervdsm, stats=self.host_stats)
        # host services (issue 14): prepareForShutdown, HA maintenance mode
        self.maintenance = Maintenance(config.state_dir)
        self.hostdevs: HostdevService | None = None
        self._connect_subsystems()
        self.dispatcher = Dispatcher(
            self.schema, wiring.core_handlers(self.host, self.task_managers,
                                             self.jobs),
            on_call=self._record_call)
        self.fencing = self._fencing_service()
        self.dispatcher.add_handlers(
            "Host", wiring.fencing_handlers(self.fencing)["Host"])
        for sub in self.subsystems.values():
            handlers = wiring.subsystem_handlers(sub, host_tasks=self.tasks)
            for namespace, handler in handlers.items():
                self.dispatcher.add_handlers(namespace, handler)
        virt = self._virt()
        for namespace, handler in wiring.host_service_handlers(
                self.maintenance, self.hostdevs, virt.service if virt else None):
            self.dispatcher.add_handlers(namespace, handler)
        self.server: ApiServer | None = None
        # GET /metrics on its own listener ([metrics]); None when disabled
        self.metrics = metrics.from_agent(self)

    def leases_revoked(self) -> None:
        """The lease manager wants our leases back: give them up (the SPM
        fences itself) and go on serving."""
        storage = self._storage()
        if storage is not None:
            storage.leases_revoked()

    def _virt(self) -> VirtSubsystem | None:
        return cast("VirtSubsystem | None", self.subsystems.get("virt"))

    def _storage(self) -> StorageSubsystem | None:
        return cast("StorageSubsystem | None", self.subsystems.get("storage"))

    def _network(self) -> NetworkSubsystem | None:
        return cast("NetworkSubsystem | None", self.subsystems.get("network"))

    def _stats_sources(self) -> dict[str, Callable[[], dict[str, Any]]]:
        """getVdsStats' VM counts from virt, domain health from storage."""
        sources: dict[str, Callable[[], dict[str, Any]]] = {}
        if (virt := self._virt()) is not None:
            sources["vm_counts"] = virt.vm_counts
        if (storage := self._storage()) is not None:
            sources["storage_stats"] = storage.domain_stats
        return sources

    def _fencing_service(self) -> FencingService:
        """fenceNode, checking host leases through storage where it runs."""
        storage = self._storage()
        return FencingService(
            self.config.get("fencing", "agent_dir"),
            self.config.get("fencing", "timeout"),
            lease_status=storage.host_leases.status if storage else None)

    def _connect_subsystems(self) -> None:
        """Hand each subsystem what it needs of another."""
        virt, storage, network = self._virt(), self._storage(), self._network()
        if virt is not None and storage is not None:
            virt.set_drive_resolver(storage.drive_resolver)
            virt.set_volume_extender(storage.volume_extender)
            virt.set_volume_chains(storage.volume_chains)
            storage.set_guest_trim(virt.guest_trim)
        if network is not None and virt is not None:
            network.set_vm_users(virt.network_users)
        # policy engine (issue 14): it balloons and tunes virt's VMs
        policy = cast("PolicySubsystem | None", self.subsystems.get("policy"))
        if policy is not None and virt is not None:
            policy.set_guests(virt.policy_guests)
        for sub in self.subsystems.values():
            if isinstance(sub, CapabilityExtender):
                self.host.add_extender(sub)
        # host services (issue 14): maintenance gates VMs, empties storage;
        # host devices over virt's libvirt connection
        self.host.add_stats_part(self.maintenance.extend_stats)
        if virt is not None:
            virt.set_admission(self.maintenance.check_new_vm)
            self.hostdevs = HostdevService(virt.ctx.conn.get,
                                           supervdsm=self.supervdsm)
            virt.set_host_devices(self.hostdevs)
            self.host.add_extender(self.hostdevs)
        if storage is not None:
            self.maintenance.add_shutdown_step(
                "storage", storage.service.prepare_for_shutdown)

    # --- services shared by the verbs and the subsystems ----------------
    def _record_call(self, ctx: Any, verb: Any) -> None:
        self._last_call = time.monotonic()

    def last_call_time(self) -> float:
        """time.monotonic() of the last valid API call from any client.

        The network subsystem's connectivity check waits for this to move
        after a change, as proof that the engine still reaches the host.
        """
        return self._last_call

    def add_task_manager(self, manager: Any) -> None:
        """Let the Task verbs see another manager's tasks (e.g. the pool's)."""
        self.task_managers.append(manager)

    def capabilities(self) -> dict[str, Any]:
        return self.host.capabilities()

    # --- life cycle -----------------------------------------------------
    def bind(self) -> ApiServer:
        """Open the API socket (before privileges are dropped)."""
        config = self.config
        address = config.get("addresses", "management_ip") or "0.0.0.0"
        port = config.get("addresses", "management_port")
        if config.get("vars", "ssl"):
            context = pki.server_context(config.ca_cert, config.host_cert,
                                         config.host_key)
        else:
            if not is_loopback(address):
                raise InvalidConfiguration(
                    "ssl = false is allowed only with a loopback "
                    f"management_ip, not {address!r}")
            log.warning("API served WITHOUT TLS on %s:%s (loopback only)",
                        address, port)
            context = None
        self.server = ApiServer(self.dispatcher, (address, port),
                                ssl_context=context, limits=api_limits(config))
        self.notifier.subscribe(event_sink(self.server))
        log.info("API listening on %s:%s (%s; XML-RPC and JSON-RPC over STOMP)",
                 address, self.server.port, "TLS" if context else "plain")
        return self.server

    def start(self) -> None:
        """Start the background services and recover persisted state."""
        self.host_stats.start()
        self.tasks.recover()
        for sub in self.subsystems.values():
            log.info("starting subsystem %s", sub.name)
            sub.start()
        if self.metrics is not None:
            self.metrics.start()

    def stop(self) -> None:
        """Stop serving, then each subsystem; a step that takes long is
        logged by name (an operator waiting on a restart sees what)."""
        if self.metrics is not None:
            _timed("metrics", self.metrics.stop)
        if self.server is not None:
            server = self.server
            _timed("API server", lambda: (server.shutdown(), server.server_close()))
        for sub in reversed(list(self.subsystems.values())):
            try:
                _timed(f"subsystem {sub.name}", sub.stop)
            except Exception:
                log.exception("subsystem %s failed to stop", sub.name)
        _timed("tasks", lambda: self.tasks.shutdown(timeout=10))
        _timed("host stats", lambda: self.host_stats.stop(timeout=10))
        self.supervdsm.close()


SLOW_STOP = 1.0  # seconds: a stop step taking longer is logged


def _timed(what: str, stop: Callable[[], Any]) -> None:
    start = time.monotonic()
    stop()
    took = time.monotonic() - start
    if took >= SLOW_STOP:
        log.info("stopping %s took %.1f s", what, took)
    else:
        log.debug("stopped %s in %.3f s", what, took)
