"""The host's own service: capabilities, statistics, hardware information.

The Host API verbs call this object, never the agent. Subsystems that add
to the capabilities (the network subsystem) are handed in as
:class:`CapabilityExtender` by the agent. Thread-safe once built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from vdsm.common.errors import VdsmError
from vdsm.config import Config
from vdsm.host import caps, osinfo
from vdsm.host.stats import HostStatsSampler

log = logging.getLogger(__name__)


class Privileged(Protocol):
    """supervdsm, as the host service uses it."""

    def call(self, op: str, /, **args: Any) -> Any: ...


@runtime_checkable
class CapabilityExtender(Protocol):
    """A subsystem that adds its part to getVdsCapabilities."""

    def extend_capabilities(self, info: dict[str, Any]) -> None: ...


class HostService:
    def __init__(self, config: Config, *, hooks: Any, supervdsm: Privileged,
                 stats: HostStatsSampler) -> None:
        self._config = config
        self._hooks = hooks
        self._supervdsm = supervdsm
        self._stats = stats
        self._extenders: list[CapabilityExtender] = []
        self._stats_parts: list[Callable[[dict[str, Any]], None]] = []
        self._iscsi_name: str | None = None

    def add_extender(self, extender: CapabilityExtender) -> None:
        """At start-up only: one more part of the capabilities."""
        self._extenders.append(extender)

    def capabilities(self) -> dict[str, Any]:
        info = caps.get_capabilities(self._config, hooks=self._hooks.installed())
        if not info.get("ISCSIInitiatorName"):
            info["ISCSIInitiatorName"] = self._iscsi_initiator_name()
        for extender in self._extenders:
            extender.extend_capabilities(info)
        return info

    def add_stats_part(self, extend: Callable[[dict[str, Any]], None]) -> None:
        """At start-up only: ``extend(stats)`` adds its keys (from memory,
        never waiting) to every getVdsStats answer."""
        self._stats_parts.append(extend)

    def stats(self) -> dict[str, Any]:
        """The latest sample (getVdsStats); never waits for sampling."""
        stats = self._stats.get()
        if self._stats_parts:
            stats = dict(stats)
            for extend in self._stats_parts:
                extend(stats)
        return stats

    def hardware_info(self) -> dict[str, Any]:
        """Raises the supervdsm errors (the DMI table is root-only)."""
        return self._supervdsm.call("hardware_info")

    def _iscsi_initiator_name(self) -> str:
        """The name from a root-only file, asked of supervdsm once."""
        if self._iscsi_name is None:
            if not os.path.exists(osinfo.ISCSI_INITIATOR):
                return ""
            try:
                self._iscsi_name = self._supervdsm.call("iscsi_initiator_name")
            except VdsmError as e:
                log.warning("cannot read the iSCSI initiator name: %s", e)
                return ""
        return self._iscsi_name
