"""The agent: builds the services and the API from one configuration.

The daemon process (:mod:`vdsm.daemon`) owns process concerns (logging,
signals, privileges); this class owns what the API serves, so a test can
run a whole agent in-process on port 0 under a temporary root.

Subsystems (virt, storage, network) plug in through :class:`Subsystem`:
each is built from the agent (for the shared services: config, supervdsm,
tasks, hooks), contributes handler objects per API namespace, and is
started after and stopped before the core services.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import time
from typing import Any, Callable, Iterable, Protocol

from vdsm.api import metrics, schema
from vdsm.api.dispatcher import Dispatcher, error_code
from vdsm.api.host import HostVerbs
from vdsm.api.server import ApiServer, Limits
from vdsm.api.stomp_server import event_sink
from vdsm.api.task import TaskVerbs
from vdsm.common import hooks, pki
from vdsm.common.errors import InvalidConfiguration, VdsmError
from vdsm.common.events import Notifier
from vdsm.config import Config
from vdsm.host import caps, osinfo
from vdsm.host.stats import HostStatsSampler
from vdsm.supervdsm.client import SupervdsmClient
from vdsm.tasks.manager import TaskManager

log = logging.getLogger(__name__)


class Subsystem(Protocol):
    """What a subsystem offers the agent."""

    name: str

    def handlers(self) -> dict[str, object]:
        """API handler objects by namespace (``{"VM": VmVerbs(...)}``)."""

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
                 subsystems: Iterable[SubsystemFactory] | None = None) -> None:
        self.config = config
        self.start_time = time.monotonic()
        self.schema = schema.load()
        self.hooks = hooks.Hooks.from_config(config)
        self.notifier = Notifier()
        self.supervdsm = SupervdsmClient(
            config.supervdsm_socket, timeout=config.get("supervdsm", "timeout"))
        self.host_stats = HostStatsSampler(
            config.get("vars", "host_stats_interval"),
            vm_counts=self._vm_counts, storage_stats=self._storage_stats)
        self.tasks = TaskManager(
            config.get("vars", "task_workers"),
            persist_dir=os.path.join(config.state_dir, "tasks"),
            error_code=error_code)
        # TaskManager or a facade with its verb methods (the pool's tasks)
        self.task_managers: list[Any] = [self.tasks]
        self._last_call = time.monotonic()
        self.dispatcher = Dispatcher(self.schema, {
            "Host": HostVerbs(self),
            "Task": TaskVerbs(self),
        }, on_call=self._record_call)
        if subsystems is None:
            subsystems = load_factories(DEFAULT_SUBSYSTEMS)
        self.subsystems: dict[str, Subsystem] = {}
        for factory in subsystems:
            sub = factory(self)
            self.subsystems[sub.name] = sub
            for namespace, handler in sub.handlers().items():
                self.dispatcher.add_handlers(namespace, handler)
        self.server: ApiServer | None = None
        self._iscsi_name: str | None = None
        # GET /metrics on its own listener ([metrics]); None when disabled
        self.metrics = metrics.from_agent(self)

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
        info = caps.get_capabilities(self.config, hooks=self.hooks.installed())
        if not info.get("ISCSIInitiatorName"):
            info["ISCSIInitiatorName"] = self._iscsi_initiator_name()
        for sub in self.subsystems.values():
            extend = getattr(sub, "extend_capabilities", None)
            if extend is not None:
                extend(info)
        return info

    def _iscsi_initiator_name(self) -> str:
        """The name from a root-only file, asked of supervdsm once."""
        if self._iscsi_name is None:
            if not os.path.exists(osinfo.ISCSI_INITIATOR):
                return ""
            try:
                self._iscsi_name = self.supervdsm.call("iscsi_initiator_name")
            except VdsmError as e:
                log.warning("cannot read the iSCSI initiator name: %s", e)
                return ""
        return self._iscsi_name

    def _vm_counts(self) -> dict[str, Any]:
        virt = self.subsystems.get("virt")
        counts = getattr(virt, "vm_counts", None)
        return counts() if counts is not None else {}

    def _storage_stats(self) -> dict[str, Any]:
        storage = self.subsystems.get("storage")
        stats = getattr(storage, "domain_stats", None)
        return stats() if stats is not None else {}

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
        if self.metrics is not None:
            self.metrics.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for sub in reversed(list(self.subsystems.values())):
            try:
                sub.stop()
            except Exception:
                log.exception("subsystem %s failed to stop", sub.name)
        self.tasks.shutdown(timeout=10)
        self.host_stats.stop(timeout=10)
        self.supervdsm.close()
