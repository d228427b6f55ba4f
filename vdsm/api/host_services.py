"""Host services verbs (issue 14): maintenance and host devices; thin."""

from __future__ import annotations

from typing import Any, Protocol


class MaintenanceService(Protocol):
    """vdsm.host.maintenance.Maintenance"""

    def prepare_for_shutdown(self) -> dict[str, Any]: ...

    def set_ha_maintenance(self, mode: str, enabled: bool) -> None: ...


class HostDevices(Protocol):
    """vdsm.host.hostdev.service.HostdevService"""

    def list_by_caps(self, caps: list[str] | None = None
                     ) -> dict[str, dict[str, Any]]: ...

    def change_numvfs(self, name: str, numvfs: Any) -> None: ...

    def reattach(self, name: str) -> None: ...


class VmHostDevices(Protocol):
    """vdsm.virt.service.VirtService, its host device part."""

    def hotplug_hostdev(self, vm_id: str, names: list[str]) -> list[str]: ...

    def hotunplug_hostdev(self, vm_id: str, names: list[str]) -> list[str]: ...


class MaintenanceVerbs:
    def __init__(self, maintenance: MaintenanceService) -> None:
        self._svc = maintenance

    def prepare_for_shutdown(self) -> None:
        self._svc.prepare_for_shutdown()

    def set_ha_maintenance_mode(self, mode: str, enabled: bool) -> None:
        self._svc.set_ha_maintenance(mode, enabled)


class HostdevVerbs:
    def __init__(self, hostdevs: HostDevices) -> None:
        self._svc = hostdevs

    def hostdev_list_by_caps(self, caps: list[str] | None = None
                             ) -> dict[str, dict[str, Any]]:
        return self._svc.list_by_caps(caps or None)

    def hostdev_change_numvfs(self, device_name: str, numvfs: int) -> None:
        self._svc.change_numvfs(device_name, numvfs)

    def hostdev_reattach(self, device_name: str) -> None:
        self._svc.reattach(device_name)


class VmHostdevVerbs:
    def __init__(self, vms: VmHostDevices) -> None:
        self._svc = vms

    def hotplug_hostdev(self, vm_id: str, devices: list[str]) -> list[str]:
        return self._svc.hotplug_hostdev(vm_id, devices)

    def hotunplug_hostdev(self, vm_id: str, devices: list[str]) -> list[str]:
        return self._svc.hotunplug_hostdev(vm_id, devices)
