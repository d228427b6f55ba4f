"""Prometheus metrics of the agent, served at ``GET /metrics``.

Everything exported is read from memory the agent already keeps: the host
sampler's figures, the VM stats getAllVmStats answers, the domain
monitor's repoStats, the task managers' statuses, and API call counts
observed by the dispatcher. Modules: :mod:`.host` and :mod:`.vms` turn
sampled dicts into families, :mod:`.collector` gathers the sources,
:mod:`.calls` counts API calls, :mod:`.server` is the HTTP listener.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from vdsm.api.metrics.calls import ApiCalls
from vdsm.api.metrics.collector import SampledCollector, Sources
from vdsm.api.metrics.server import MetricsServer
from vdsm.host import memory

if TYPE_CHECKING:
    from vdsm.agent import Agent

log = logging.getLogger(__name__)

__all__ = ["ApiCalls", "MetricsServer", "SampledCollector", "Sources",
           "from_agent", "registry_for"]


def registry_for(sources: Sources) -> tuple[CollectorRegistry, ApiCalls]:
    """A private registry (never the global one: several agents may run in
    one test process) with the sampled series and the call counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SampledCollector(sources))
    return registry, ApiCalls(registry)


def from_agent(agent: Agent) -> MetricsServer | None:
    """The listener over an agent's services, or None if disabled.

    Called once the subsystems exist; hooks the call counter into the
    agent's dispatcher. The listener binds only in ``start()``.
    """
    config = agent.config
    if not config.get("metrics", "enabled"):
        log.info("metrics disabled ([metrics] enabled = false)")
        return None
    registry, calls = registry_for(_sources(agent))
    agent.dispatcher.on_done = calls.observe
    return MetricsServer(registry, config.get("metrics", "address"),
                         config.get("metrics", "port"))


def _sources(agent: Agent) -> Sources:
    managers = agent.task_managers  # the live list: add_task_manager appends

    def tasks() -> list[dict[str, Any]]:
        return [status for m in managers
                for status in m.get_all_statuses().values()]

    virt = agent.subsystems.get("virt")
    storage = agent.subsystems.get("storage")
    vms = getattr(getattr(virt, "service", None), "all_stats", None)
    domains = getattr(storage, "domain_stats", None)
    if virt is not None and vms is None:
        log.warning("virt subsystem has no service.all_stats: no VM metrics")
    if storage is not None and domains is None:
        log.warning("storage subsystem has no domain_stats: no domain metrics")
    try:
        total = memory.read_meminfo()["MemTotal"] * 1024  # KiB
    except (OSError, KeyError) as e:
        log.warning("cannot read the host memory size: %s", e)
        total = None
    return Sources(host=agent.host_stats.get, vms=vms, domains=domains,
                   tasks=tasks, memory_total=total)
