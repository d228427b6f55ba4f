"""The policy engine as an agent subsystem, and the service its verbs call.

The agent builds it after virt and hands it virt's guests seam
(:meth:`PolicySubsystem.set_guests`); without virt the policy still runs
KSM. KSM is written through supervdsm's ``tune_ksm`` op only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vdsm.common.errors import InvalidParameter
from vdsm.host.policy.engine import Guests, PolicyEngine
from vdsm.supervdsm.errors import KSMUpdateFailed

if TYPE_CHECKING:
    from vdsm.agent import Agent

log = logging.getLogger(__name__)

KSM_KEYS = ("run", "pages_to_scan", "sleep_millisecs", "merge_across_nodes")


class PolicyService:
    """What the Host.setMOMPolicy*/setKsmTune verbs call; thread-safe."""

    def __init__(self, engine: PolicyEngine, supervdsm: Any) -> None:
        self.engine = engine
        self._supervdsm = supervdsm

    def set_policy(self, text: str) -> None:
        """Raises MOMPolicyUpdateFailed (line and reason); the old stays."""
        self.engine.set_policy(text)

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Raises MOMPolicyUpdateFailed; nothing changed then."""
        self.engine.set_parameters(values)

    def set_ksm_tune(self, params: dict[str, Any]) -> dict[str, int]:
        """Write KSM settings now (the policy may change them at its next
        cycle while it steers KSM: ksmEnabled). KSMUpdateFailed on an
        unknown key, a bad value or a kernel refusal."""
        if not isinstance(params, dict) or not params:
            raise KSMUpdateFailed("Failed to update KSM values: no values")
        unknown = sorted(set(params) - set(KSM_KEYS))
        if unknown:
            raise KSMUpdateFailed(f"Failed to update KSM values: unknown "
                                  f"key(s) {', '.join(map(str, unknown))[:200]}")
        values = {k: _integer(k, v) for k, v in params.items()}
        try:
            result = self._supervdsm.call("tune_ksm", **values)
        except InvalidParameter as e:
            raise KSMUpdateFailed(f"Failed to update KSM values: {e}") from None
        log.info("KSM tuned by request: %s", result)
        return result

    def tune_ksm(self, **values: int) -> Any:
        return self._supervdsm.call("tune_ksm", **values)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise KSMUpdateFailed(f"Failed to update KSM values: {key} must be "
                              f"an integer, got {value!r}") from None


class PolicySubsystem:
    name = "policy"

    def __init__(self, agent: Agent) -> None:
        config = agent.config
        self.enabled = bool(config.get("policy", "enabled"))
        self.engine = PolicyEngine(interval=config.get("policy", "interval"),
                                   tune_ksm=self._tune_ksm)
        self.service = PolicyService(self.engine, agent.supervdsm)

    def _tune_ksm(self, **values: int) -> Any:
        return self.service.tune_ksm(**values)

    def set_guests(self, guests: Guests) -> None:
        """The VMs the policy balloons and tunes (virt's); before start."""
        self.engine.guests = guests

    def start(self) -> None:
        if self.enabled:
            self.engine.start()
        else:
            log.info("policy engine disabled ([policy] enabled = false)")

    def stop(self) -> None:
        self.engine.stop()
