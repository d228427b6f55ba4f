"""From services to API namespaces: the one place handlers are built.

The agent builds the services (the host's, the task managers, each
subsystem's) and calls these functions to get the handler objects per
namespace, which it registers with the :class:`Dispatcher`. Subsystems
never see a handler: the dependency runs api -> services only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from vdsm.api import host_services
from vdsm.api import storage as storage_api
from vdsm.api.fencing import FencingVerbs
from vdsm.api.host import HostVerbs
from vdsm.api.network import NetworkVerbs
from vdsm.api.policy import PolicyVerbs
from vdsm.api.services import HostInfo, HostJobs, TaskManagers, TaskScheduler
from vdsm.api.task import TaskVerbs
from vdsm.api.vm import VirtHostVerbs, VmVerbs

if TYPE_CHECKING:
    from vdsm.host.fencing.service import FencingService
    from vdsm.host.policy.subsystem import PolicySubsystem
    from vdsm.network.subsystem import NetworkSubsystem
    from vdsm.storage.subsystem import StorageSubsystem
    from vdsm.virt.subsystem import VirtSubsystem

Handlers = dict[str, object]


@runtime_checkable
class HandlerProvider(Protocol):
    """A subsystem outside this tree (a plugin, a test's) that brings its
    own handler objects; the built-in subsystems are wired below."""

    def handlers(self) -> Handlers: ...


def core_handlers(host: HostInfo, tasks: TaskManagers,
                  jobs: HostJobs | None = None) -> Handlers:
    """The Host and Task verbs of the agent itself."""
    return {"Host": HostVerbs(host, tasks, jobs), "Task": TaskVerbs(tasks)}


def fencing_handlers(fencing: FencingService) -> Handlers:
    return {"Host": FencingVerbs(fencing)}


def virt_handlers(virt: VirtSubsystem) -> Handlers:
    return {"VM": VmVerbs(virt.service), "Host": VirtHostVerbs(virt.service)}


def network_handlers(network: NetworkSubsystem) -> Handlers:
    return {"Host": NetworkVerbs(network.service,
                                 capabilities=network.capabilities)}


def storage_handlers(storage: StorageSubsystem, host_tasks: TaskScheduler
                     ) -> Handlers:
    return storage_api.handlers(storage.service, host_tasks)


def host_service_handlers(maintenance: Any, hostdevs: Any, vms: Any
                          ) -> list[tuple[str, object]]:
    """Maintenance and host devices (issue 14); the device verbs only with
    the virt subsystem (it owns the libvirt connection)."""
    handlers: list[tuple[str, object]] = [
        ("Host", host_services.MaintenanceVerbs(maintenance))]
    if hostdevs is not None and vms is not None:
        handlers += [("Host", host_services.HostdevVerbs(hostdevs)),
                     ("VM", host_services.VmHostdevVerbs(vms))]
    return handlers


def subsystem_handlers(subsystem: Any, *, host_tasks: TaskScheduler) -> Handlers:
    """The handlers serving one subsystem's services, by its name."""
    name = subsystem.name
    if name == "virt":
        return virt_handlers(cast("VirtSubsystem", subsystem))
    if name == "network":
        return network_handlers(cast("NetworkSubsystem", subsystem))
    if name == "storage":
        return storage_handlers(cast("StorageSubsystem", subsystem), host_tasks)
    if name == "policy":  # issue 14: setMOMPolicy, setKsmTune
        return {"Host": PolicyVerbs(cast("PolicySubsystem", subsystem).service)}
    if isinstance(subsystem, HandlerProvider):
        return subsystem.handlers()
    return {}
