"""The collector: Prometheus families from what the agent already sampled.

Each source is a callable that answers from memory (the host sampler's
latest figures, the VM stats getAllVmStats answers, the domain monitor's
repoStats, the task managers' statuses), so a scrape never waits on
/proc, libvirt or storage. A failing source is logged and reported as
``vdsm_metrics_source_up{source} 0``; the other sources still answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from vdsm.api.metrics.host import host_families, number
from vdsm.api.metrics.vms import vm_families

log = logging.getLogger(__name__)

# The classic public task states (taskState on the wire).
TASK_STATES = ("init", "running", "finished", "aborting", "cleaning")


@dataclass(frozen=True)
class Sources:
    """Where the sampled data comes from; a source left None is skipped."""

    host: Callable[[], dict[str, Any]] | None = None
    vms: Callable[[], list[dict[str, Any]]] | None = None
    domains: Callable[[], dict[str, dict[str, Any]]] | None = None
    tasks: Callable[[], Iterable[dict[str, Any]]] | None = None
    memory_total: int | None = None  # bytes; not sampled, read once


def domain_families(domains: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    """Storage domain health as repoStats reports it."""
    sd = ["sd_uuid"]
    delay = GaugeMetricFamily(
        "vdsm_storage_domain_check_delay_seconds",
        "How long the last metadata read of the domain took.", labels=sd)
    valid = GaugeMetricFamily("vdsm_storage_domain_valid",
                              "1 while the domain's checks succeed, else 0.",
                              labels=sd)
    age = GaugeMetricFamily(
        "vdsm_storage_domain_last_check_age_seconds",
        "Time since the last completed check (grows while storage hangs).",
        labels=sd)
    acquired = GaugeMetricFamily(
        "vdsm_storage_domain_host_id_acquired",
        "1 when this host holds its host id on the domain, else 0.",
        labels=sd)
    for sd_uuid, stats in sorted(domains.items()):
        for family, value in ((delay, number(stats.get("delay"))),
                              (age, number(stats.get("lastCheck")))):
            if value is not None:
                family.add_metric([sd_uuid], value)
        valid.add_metric([sd_uuid], 1 if stats.get("valid") else 0)
        acquired.add_metric([sd_uuid], 1 if stats.get("acquired") else 0)
    yield from (delay, valid, age, acquired)


def task_families(statuses: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    """Tasks of every manager counted by their public state."""
    counts = dict.fromkeys(TASK_STATES, 0)
    for status in statuses:
        state = str(status.get("taskState", "unknown"))
        counts[state] = counts.get(state, 0) + 1
    family = GaugeMetricFamily("vdsm_tasks", "Tasks by state.",
                               labels=["state"])
    for state, count in counts.items():
        family.add_metric([state], count)
    yield family


class SampledCollector(Collector):
    """Thread-safe if the sources are; each scrape calls each source once."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self._sources
        up = GaugeMetricFamily("vdsm_metrics_source_up",
                               "1 if the source answered this scrape, else 0.",
                               labels=["source"])
        parts: list[tuple[str, Callable[[], Any] | None,
                          Callable[[Any], Iterator[Metric]]]] = [
            ("host", s.host,
             lambda v: host_families(v, memory_total=s.memory_total)),
            ("vms", s.vms, vm_families),
            ("storage_domains", s.domains, domain_families),
            ("tasks", s.tasks, task_families),
        ]
        for name, source, families in parts:
            if source is None:
                continue
            try:
                built = list(families(source()))
            except Exception:
                log.exception("metrics source %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from built
        yield up
