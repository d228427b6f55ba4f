"""The host's migration settings, read once from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MigrationSettings:
    downtime: int = 500                # ms, the default maximum
    downtime_steps: int = 10
    monitor_interval: float = 1.0      # s
    progress_timeout: float = 150.0    # s without progress -> abort
    max_time_per_gib: float = 64.0     # s per GiB of guest memory (0: none)
    max_outgoing: int = 2
    max_incoming: int = 2
    destination_timeout: float = 120.0
    create_timeout: float = 60.0
    libvirt_uri: str = "qemu+tls://{host}/system"

    def time_budget(self, mem_mib: int) -> float | None:
        """Seconds a migration of a guest this big may take (None: no
        limit); small guests get the budget of 1 GiB."""
        return self.max_time_per_gib * max(1.0, mem_mib / 1024) or None

    @classmethod
    def from_config(cls, config: Any) -> MigrationSettings:
        def get(key: str) -> Any:
            return config.get("vars", key)

        return cls(
            downtime=int(get("migration_downtime")),
            downtime_steps=max(1, int(get("migration_downtime_steps"))),
            monitor_interval=float(get("migration_monitor_interval")),
            progress_timeout=float(get("migration_progress_timeout")),
            max_time_per_gib=float(get("migration_max_time_per_gib_mem")),
            max_outgoing=max(1, int(get("max_outgoing_migrations"))),
            max_incoming=max(1, int(get("max_incoming_migrations"))),
            destination_timeout=float(get("migration_destination_timeout")),
            create_timeout=float(get("migration_create_timeout")),
            libvirt_uri=str(get("migration_libvirt_uri")))
