"""Host network verbs: thin handlers over the network subsystem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.network import legacy

if TYPE_CHECKING:
    from vdsm.network.subsystem import NetworkSubsystem


class NetworkVerbs:
    def __init__(self, subsystem: NetworkSubsystem) -> None:
        self._sub = subsystem
        self._service = subsystem.service

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
        return self._sub.capabilities()

    def confirm_connectivity(self) -> None:
        """Any call confirms connectivity; this one does nothing else."""
        return None
