"""Host network verbs: thin handlers over the network service."""

from __future__ import annotations

from typing import Any, Callable

from vdsm.api.services import NetworkApi
from vdsm.network import legacy


class NetworkVerbs:
    def __init__(self, service: NetworkApi, *,
                 capabilities: Callable[[], dict[str, Any]]) -> None:
        self._service = service
        self._capabilities = capabilities

    def setup_networks(self, networks: dict[str, Any],
                       bondings: dict[str, Any] | None = None,
                       options: dict[str, Any] | None = None) -> None:
        self._service.setup(networks, bondings or {}, options or {})

    def add_network(self, bridge: str, vlan: Any = None, bond: str = "",
                    nics: Any = None, options: dict[str, Any] | None = None
                    ) -> None:
        self._service.setup(*legacy.add_network(bridge, vlan, bond or None,
                                                nics, options))

    def del_network(self, bridge: str, vlan: Any = None, bond: str = "",
                    nics: Any = None, options: dict[str, Any] | None = None
                    ) -> None:
        self._service.setup(*legacy.del_network(
            self._service.running, bridge, bond or None, options))

    def edit_network(self, old_bridge: str, new_bridge: str, vlan: Any = None,
                     bond: str = "", nics: Any = None,
                     options: dict[str, Any] | None = None) -> None:
        self._service.setup(*legacy.edit_network(
            old_bridge, new_bridge, vlan, bond or None, nics, options))

    def set_safe_network_config(self) -> None:
        self._service.set_safe()

    def get_network_capabilities(self) -> dict[str, Any]:
        return self._capabilities()

    def confirm_connectivity(self) -> None:
        """Any call confirms connectivity; this one does nothing else."""
        return None
