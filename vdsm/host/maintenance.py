"""Host maintenance: prepareForShutdown and the hosted-engine HA mode.

``prepare_for_shutdown`` runs the subsystems' shutdown steps once (storage:
stop being SPM, disconnect the pool, stop every domain monitor and release
the host ids) and from then on refuses new VMs (``check_new_vm``) until
the agent restarts. There is no hosted-engine HA agent here: the HA
maintenance mode is kept (persisted under state_dir) and reported in
getVdsStats' ``haStats`` as the classic agent reports its HA client's.
Thread-safe.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from vdsm.common import fileutils
from vdsm.common.errors import PreparingForShutdown, SetHAPolicyFailed

log = logging.getLogger(__name__)

HA_MODES = ("global", "local")
HA_FILE = "ha_maintenance.json"

# One subsystem's part of prepareForShutdown: returns what it did.
ShutdownStep = Callable[[], dict[str, Any]]


class Maintenance:
    def __init__(self, state_dir: str) -> None:
        self._lock = threading.Lock()
        self._steps: list[tuple[str, ShutdownStep]] = []
        self._shutting_down = False
        self._ha_path = os.path.join(state_dir, HA_FILE)
        self._ha = self._load_ha()

    def add_shutdown_step(self, name: str, step: ShutdownStep) -> None:
        """At start-up only: a subsystem's part of prepareForShutdown."""
        self._steps.append((name, step))

    # --- prepareForShutdown ----------------------------------------------
    def prepare_for_shutdown(self) -> dict[str, Any]:
        """Refuse new VMs, then run every step (each once, in order; a
        failing step is logged and the others still run). Returns what each
        step did, or its error."""
        with self._lock:
            first = not self._shutting_down
            self._shutting_down = True
        if not first:
            log.info("prepareForShutdown: already prepared")
            return {}
        log.info("prepareForShutdown: new VMs are refused from now on")
        done: dict[str, Any] = {}
        for name, step in self._steps:
            try:
                done[name] = step()
            except Exception as e:
                log.exception("prepareForShutdown: %s failed", name)
                done[name] = {"error": str(e)}
        log.info("prepareForShutdown done: %s", done)
        return done

    def check_new_vm(self) -> None:
        """Raises PreparingForShutdown after prepareForShutdown."""
        if self._shutting_down:
            raise PreparingForShutdown()

    # --- hosted-engine HA maintenance ------------------------------------
    def set_ha_maintenance(self, mode: str, enabled: bool) -> None:
        """Keep ``mode`` ('global' or 'local') on or off, persisted.
        SetHAPolicyFailed for another mode or when it cannot be stored."""
        mode = str(mode).lower()
        if mode not in HA_MODES:
            raise SetHAPolicyFailed(f"Failed to set Hosted Engine HA policy: "
                                    f"mode {mode!r} is not global or local")
        with self._lock:
            new = dict(self._ha, **{mode: bool(enabled)})
            try:
                _write_json(self._ha_path, new)
            except OSError as e:
                raise SetHAPolicyFailed(f"Failed to set Hosted Engine HA "
                                        f"policy: {e}") from None
            self._ha = new
        log.info("hosted-engine HA %s maintenance %s", mode,
                 "enabled" if enabled else "disabled")

    def ha_stats(self) -> dict[str, Any]:
        """The classic haStats: no HA agent, so not configured, not active,
        score 0, with the kept maintenance flags."""
        with self._lock:
            ha = dict(self._ha)
        return {"configured": False, "active": False, "score": 0,
                "globalMaintenance": ha["global"],
                "localMaintenance": ha["local"]}

    def extend_stats(self, stats: dict[str, Any]) -> None:
        stats["haStats"] = self.ha_stats()

    def _load_ha(self) -> dict[str, bool]:
        state = dict.fromkeys(HA_MODES, False)
        try:
            with open(self._ha_path) as f:
                saved = json.load(f)
        except FileNotFoundError:
            return state
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable %s: %s", self._ha_path, e)
            return state
        state.update({m: bool(saved.get(m)) for m in HA_MODES})
        return state


def _write_json(path: str, data: dict[str, Any]) -> None:
    fileutils.write_atomic(path, json.dumps(data).encode(), 0o644)
