"""The accepted policy and its parameters, kept on disk across restarts.

Classic MOM read its policy files from disk at start, so a restarted
daemon ran the manager's policy before the manager sent it again. Here
the engine writes ``policy.json`` (``{"policy": text or null for the
default, "parameters": {...}}``) under the agent's state dir each time a
policy or parameter is accepted, atomically (a temp file, fsync, rename,
fsync of the directory): a crash leaves the old file or the new one,
never half of one. Not thread-safe: the engine calls it under its lock.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from vdsm.common import fileutils

log = logging.getLogger(__name__)

FILE = "policy.json"


class PolicyStore:
    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, FILE)

    def load(self) -> tuple[str | None, dict[str, Any]]:
        """The stored (policy text or None, parameters); (None, {}) when
        nothing is stored or the file is unreadable (logged)."""
        try:
            with open(self.path) as f:
                saved = json.load(f)
        except FileNotFoundError:
            return None, {}
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable %s: %s", self.path, e)
            return None, {}
        if not isinstance(saved, dict):
            log.warning("ignoring %s: not a JSON object", self.path)
            return None, {}
        text = saved.get("policy")
        params = saved.get("parameters")
        if text is not None and not isinstance(text, str):
            log.warning("ignoring the policy in %s: not a text", self.path)
            text = None
        if not isinstance(params, dict):
            params = {}
        return text, params

    def save(self, text: str | None, params: dict[str, Any]) -> None:
        """Replace the stored state; raises OSError (the old file stays)."""
        fileutils.write_atomic(self.path, json.dumps(
            {"policy": text, "parameters": params}).encode(), 0o644)
