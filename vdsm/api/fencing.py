"""Host.fenceNode: a thin handler over the fencing service."""

from __future__ import annotations

from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.host.fencing.agent_input import FenceRequest
from vdsm.host.fencing.service import FencingService


class FencingVerbs:
    def __init__(self, fencing: FencingService) -> None:
        self._fencing = fencing

    def fence_node(self, addr: str, port: Any, agent: str, username: str,
                   password: str, action: str, secure: bool = False,
                   options: str = "", policy: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        if policy is not None and not isinstance(policy, dict):
            raise InvalidParameter("Invalid parameter: policy must be a struct")
        request = FenceRequest(addr=addr, port=port, agent=agent,
                               username=username, password=password,
                               action=action, secure=secure, options=options)
        return self._fencing.fence_node(request, policy)
