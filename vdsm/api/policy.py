"""Host verbs of the policy engine (issue 14): thin handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vdsm.host.policy.subsystem import PolicyService


class PolicyVerbs:
    def __init__(self, service: PolicyService) -> None:
        self._service = service

    def set_mom_policy(self, policy: str) -> None:
        self._service.set_policy(policy)

    def set_mom_policy_parameters(self, key_value_store: dict[str, Any]) -> None:
        self._service.set_parameters(key_value_store)

    def set_ksm_tune(self, tuning_params: dict[str, Any]) -> None:
        self._service.set_ksm_tune(tuning_params)
