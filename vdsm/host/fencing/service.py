"""Host.fenceNode: validate, check the policy, run the agent, answer."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from vdsm.host.fencing import agent_input, policy, runner
from vdsm.host.fencing.agent_input import FenceRequest

log = logging.getLogger(__name__)


class FencingService:
    """Runs fence agents from ``agent_dir``, each for at most ``timeout``
    seconds. Thread-safe: calls share nothing."""

    def __init__(self, agent_dir: str, timeout: float, *,
                 lease_status: policy.LeaseStatus | None = None) -> None:
        self.agent_dir = agent_dir
        self.timeout = timeout
        self.lease_status = lease_status

    def fence_node(self, request: FenceRequest,
                   fencing_policy: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
        """The classic answer (``status``, ``power``, ``operationStatus``).

        Raises InvalidParameter for a malformed request and
        UnsupportedFenceAgent when there is no such agent; the agent's own
        failures (wrong password, unreachable device, timeout) are answered
        with code 1 and the agent's message.
        """
        path = runner.agent_path(self.agent_dir, request.agent)
        given = agent_input.build(request,
                                  ipmilan=agent_input.is_ipmilan(path))
        if request.action != "status":
            decision = policy.decide(fencing_policy, self.lease_status)
            if not decision.fence:
                log.info("fencing %s (%s) skipped: %s", request.addr,
                         request.action, decision.reason)
                return {"status": {"code": 0, "message": "Done"},
                        "operationStatus": "skipped", "power": "unknown"}
            log.info("fencing %s: %s (%s)", request.addr, request.action,
                     decision.reason)
        result = runner.run(path, given, timeout=self.timeout)
        answer = runner.answer(request.action, result, timeout=self.timeout)
        message = answer["status"]["message"]
        if request.password and request.password in message:  # an agent echoed it
            answer["status"]["message"] = message.replace(
                request.password, agent_input.MASK)
        log.info("fence agent %s %s on %s: rc=%s, answer %s", request.agent,
                 request.action, request.addr, result.rc, answer)
        return answer
