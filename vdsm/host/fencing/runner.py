"""Run one fence agent and answer the classic way.

fence-agents exit codes: 0 success (``status``: power on), 2 ``status``:
power off, 1 failure (wrong password, unreachable device, ...); anything
else is a failure too. The answer keeps the classic shape: ``status`` with
code 0 or the failure's code 1 and the agent's own message, ``power`` for
``status`` and ``operationStatus`` for the power actions.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from vdsm.common import commands
from vdsm.common.errors import UnsupportedFenceAgent
from vdsm.host.fencing import agent_input

log = logging.getLogger(__name__)

FAILED = 1          # the classic code of a failed fence agent
POWER_ON, POWER_OFF, POWER_UNKNOWN = "on", "off", "unknown"
# The agents are Python scripts: their deprecation noise is no message.
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
        "PYTHONWARNINGS": "ignore::DeprecationWarning"}


@dataclass(frozen=True)
class AgentResult:
    rc: int | None          # None: killed at the timeout
    out: str
    err: str

    @property
    def message(self) -> str:
        text = (self.out + self.err).strip()
        return agent_input.masked(text)[:2000]


def agent_path(agent_dir: str, agent: str) -> str:
    """The executable of ``agent``. Raises UnsupportedFenceAgent."""
    path = os.path.join(agent_dir, "fence_" + agent_input.agent_name(agent))
    if not os.access(path, os.X_OK) or os.path.isdir(path):
        raise UnsupportedFenceAgent(
            f"Unsupported fencing agent: {agent!r} (no {path})")
    return path


def run(path: str, given: agent_input.AgentInput, *,
        timeout: float) -> AgentResult:
    """Run the agent with everything on stdin; at most ``timeout`` seconds
    (then the agent's process group is killed). Never raises for the
    agent's own failure."""
    log.debug("running %s with input:\n%s (environment: %s)", path,
              agent_input.masked(given.text), sorted(given.env))
    try:
        result = commands.run([path], data=given.text, timeout=timeout,
                              env={**_ENV, **given.env}, check=False)
    except commands.CommandError as e:
        if e.rc is None and "timed out" in e.reason:
            return AgentResult(None, e.out or "", e.err or "")
        return AgentResult(FAILED, e.out or "", f"{e.reason}: {e.err}")
    return AgentResult(result.rc, result.out, result.err)


def answer(action: str, result: AgentResult, *, timeout: float) -> dict[str, Any]:
    """The classic fenceNode answer for an agent's result."""
    if result.rc is None:
        message = f"fence agent timed out after {timeout:g} s"
        if result.message:
            message += ": " + result.message
        return _failed(action, message)
    if action == "status":
        if result.rc == 0:
            return _done(power=POWER_ON)
        if result.rc == 2:
            return _done(power=POWER_OFF)
        return _failed(action, result.message or f"fence agent rc={result.rc}")
    if result.rc == 0:
        return _done(power=POWER_UNKNOWN, operationStatus="initiated")
    return _failed(action, result.message or f"fence agent rc={result.rc}")


def _done(**payload: str) -> dict[str, Any]:
    return {"status": {"code": 0, "message": "Done"}, **payload}


def _failed(action: str, message: str) -> dict[str, Any]:
    result: dict[str, Any] = {"status": {"code": FAILED, "message": message},
                              "power": POWER_UNKNOWN}
    if action != "status":
        result["operationStatus"] = "initiated"
    return result
