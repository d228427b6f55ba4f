"""vdsClient conventions of the VM verbs (registered on import).

- ``create FILE key=value...``: ``drive=k:v,k:v`` items (repeatable) become
  the ``drives`` list, with the old short keys (``pool``, ``domain``,
  ``image``, ``volume``, ``if``); ``custom=k:v,k:v`` becomes a struct.
- ``list table``: one line per VM; ``list ids``: only the ids.
"""

from __future__ import annotations

from typing import Any, TextIO

from vdsm.api.schema import Verb
from vdsm_cli import args, output
from vdsm_cli.errors import UsageError

_DRIVE_KEYS = {"pool": "poolID", "domain": "domainID", "image": "imageID",
               "volume": "volumeID", "if": "iface"}


def _pairs(text: str, what: str) -> dict[str, str]:
    result = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"{what}: expected key:value items, got {item!r}")
        result[key.strip()] = value.strip()
    return result


def drive_spec(text: str) -> dict[str, str]:
    """``path:/x.img,format:raw,if:virtio`` -> a classic drive struct."""
    spec = _pairs(text, "drive")
    return {_DRIVE_KEYS.get(k, k): v for k, v in spec.items()}


def create_struct(struct: dict[str, Any]) -> dict[str, Any]:
    drives = struct.pop("drive", None)
    if drives is not None:
        items = drives if isinstance(drives, list) else [drives]
        struct.setdefault("drives", [])
        struct["drives"] += [drive_spec(d) if isinstance(d, str) else d
                             for d in items]
    if isinstance(struct.get("custom"), str):
        struct["custom"] = _pairs(struct["custom"], "custom")
    return struct


def print_table(verb: Verb, answer: dict[str, Any], out: TextIO) -> None:
    vms = answer.get(verb.payload or "", [])
    for vm in vms:
        if isinstance(vm, str):
            out.write(f"{vm}\n")
            continue
        out.write(f"{vm.get('vmId', ''):<36}  {str(vm.get('pid', '')):>7}  "
                  f"{vm.get('vmName', ''):<20}  {vm.get('status', '')}\n")


def print_ids(verb: Verb, answer: dict[str, Any], out: TextIO) -> None:
    for vm in answer.get(verb.payload or "", []):
        out.write(f"{vm if isinstance(vm, str) else vm.get('vmId')}\n")


args.register_struct_hook("VM.create", create_struct)
output.register("Host.getVMList", print_table, mode="table")
output.register("Host.getVMList", print_ids, mode="ids")
