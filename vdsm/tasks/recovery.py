"""Named rollback steps a job registers as it goes.

A step is a name plus JSON arguments, never a pickled callable: the name is
looked up in a :class:`RecoveryRegistry` when the step runs, so a task
persisted by one process can be rolled back by the next. A step must be
idempotent: after a crash in the middle of a step it runs again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vdsm.common import secrets
from vdsm.tasks.errors import InvalidRecovery

log = logging.getLogger(__name__)

RecoveryFunction = Callable[..., None]


@dataclass(frozen=True)
class RecoveryStep:
    """One undo action: ``registry[name](**args)``."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.args}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RecoveryStep:
        """Rebuild a step read from disk; raises InvalidRecovery if malformed."""
        name = record.get("name") if isinstance(record, dict) else None
        args = record.get("args", {}) if isinstance(record, dict) else None
        if not isinstance(name, str) or not isinstance(args, dict):
            raise InvalidRecovery(f"Malformed recovery step: {record!r}")
        return cls(name, args)


class RecoveryRegistry:
    """Maps step names to the functions that undo things.

    A subsystem registers its undo functions (plain functions or bound
    methods holding the services they need) before tasks run or are
    recovered. Thread-safe.
    """

    def __init__(self) -> None:
        self._functions: dict[str, RecoveryFunction] = {}
        self._lock = threading.Lock()

    def register(self, name: str, function: RecoveryFunction) -> None:
        """Register ``function`` under ``name``; raises InvalidRecovery on reuse."""
        with self._lock:
            if name in self._functions:
                raise InvalidRecovery(f"Recovery {name!r} already registered")
            self._functions[name] = function

    def recovery(self, name: str) -> Callable[[RecoveryFunction], RecoveryFunction]:
        """Decorator form of :meth:`register`."""

        def decorate(function: RecoveryFunction) -> RecoveryFunction:
            self.register(name, function)
            return function

        return decorate

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._functions

    def step(self, name: str, args: dict[str, Any] | None = None) -> RecoveryStep:
        """Validate and build a step; raises InvalidRecovery.

        The name must be registered and the arguments must survive a JSON
        round trip unchanged, so the step means the same after a restart.
        """
        if name not in self:
            raise InvalidRecovery(f"No recovery registered as {name!r}")
        args = dict(args or {})
        try:
            same = json.loads(json.dumps(args)) == args
        except (TypeError, ValueError) as e:
            raise InvalidRecovery(f"Arguments of {name!r} are not JSON: {e}") from e
        if not same:
            raise InvalidRecovery(f"Arguments of {name!r} change through JSON")
        return RecoveryStep(name, args)

    def run(self, step: RecoveryStep) -> None:
        """Run one step; raises InvalidRecovery if its name is unknown here."""
        with self._lock:
            function = self._functions.get(step.name)
        if function is None:
            raise InvalidRecovery(f"No recovery registered as {step.name!r}")
        log.debug("Running recovery %s %s", step.name, secrets.masked(step.args))
        function(**step.args)
