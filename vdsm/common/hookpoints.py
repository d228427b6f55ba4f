"""The table of hook points: their names, data and failure policy.

Facts from the classic agent: XML points carry domain or device XML, JSON
points a JSON document (network setup requests, capabilities, stats), a
few carry nothing. Failures of ``before_*`` scripts are fatal to the
operation and failures of ``after_*`` scripts are only logged, with the
exceptions listed in :func:`_build_points`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["POINTS", "HookPoint", "Payload"]


class Payload(enum.Enum):
    XML = "xml"    # domain or device XML, a str
    JSON = "json"  # any JSON value, usually a dict
    NONE = "none"  # the point carries no data


@dataclass(frozen=True)
class HookPoint:
    name: str
    payload: Payload
    raise_on_error: bool


def _build_points() -> dict[str, HookPoint]:
    """The hook point table; failure policy as the classic agent has it."""
    xml_pairs = (
        "vm_start", "vm_cont", "vm_pause", "vm_hibernate", "vm_dehibernate",
        "vm_migrate_source", "vm_migrate_destination", "vm_set_ticket",
        "vm_destroy", "device_create", "device_destroy",
        "device_migrate_source", "device_migrate_destination",
        "disk_hotplug", "disk_hotunplug", "nic_hotplug", "nic_hotunplug",
        "update_device", "memory_hotplug")
    json_pairs = ("network_setup", "get_caps", "get_stats", "get_vm_stats",
                  "get_all_vm_stats")
    none_pairs = ("set_num_of_cpus",)
    singles = {
        "after_nic_hotplug_fail": Payload.XML,
        "after_nic_hotunplug_fail": Payload.XML,
        "after_update_device_fail": Payload.XML,
        "after_network_setup_fail": Payload.JSON,
        "after_disk_prepare": Payload.JSON,
        "after_hostdev_list_by_caps": Payload.JSON,
        "before_vdsm_start": Payload.NONE,
        "after_vdsm_stop": Payload.NONE,
    }
    # Exceptions to "before_* raise, after_* do not".
    quiet_before = {"before_vm_destroy", "before_vm_set_ticket",
                    "before_vdsm_start"}
    strict_after = {"after_disk_prepare"}

    kinds: dict[str, Payload] = dict(singles)
    for stems, payload in ((xml_pairs, Payload.XML),
                           (json_pairs, Payload.JSON),
                           (none_pairs, Payload.NONE)):
        for stem in stems:
            kinds[f"before_{stem}"] = payload
            kinds[f"after_{stem}"] = payload
    points = {}
    for name, payload in sorted(kinds.items()):
        if name.startswith("before_"):
            fatal = name not in quiet_before
        else:
            fatal = name in strict_after
        points[name] = HookPoint(name, payload, fatal)
    return points


POINTS: dict[str, HookPoint] = _build_points()
