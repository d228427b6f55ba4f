"""VM devices in one normalized list form, from either classic shape.

An engine sends devices as the old flat keys (``drives``, ``nics``,
``display``, ``balloon``, comma lists ``macAddr``/``bridge``/``nicModel``)
or as the newer ``devices`` list of ``{'type': 'disk'|'interface'|...}``
structs. Both become the same dicts here (classic key names kept), which
the domain XML builders and the VM definition (``list``) use. Pure.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from typing import Any, Iterable

from vdsm.common.errors import InvalidParameter, MissingParameter

log = logging.getLogger(__name__)

GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"
OVIRT_AGENT_CHANNEL = "ovirt-guest-agent.0"    # the oVirt guest agent's channel
VDSM_AGENT_CHANNEL = "com.redhat.rhevm.vdsm"   # its older name, still honoured
OVIRT_AGENT_CHANNELS = (OVIRT_AGENT_CHANNEL, VDSM_AGENT_CHANNEL)
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_DISK_DEVICES = ("disk", "cdrom", "floppy")
_DISK_IFACES = ("virtio", "ide", "scsi", "sata", "fdc", "usb")
_DEFAULT_IFACE = {"disk": "virtio", "cdrom": "ide", "floppy": "fdc"}
_PREFIX = {"virtio": "vd", "ide": "hd", "scsi": "sd", "sata": "sd",
           "usb": "sd", "fdc": "fd"}
NIC_MODELS = {"virtio": "virtio", "pv": "virtio", "rtl8139": "rtl8139",
              "e1000": "e1000"}
VOLUME_KEYS = ("domainID", "poolID", "imageID", "volumeID")
_KNOWN_TYPES = ("disk", "interface", "graphics", "video", "balloon",
                "channel", "console", "controller")


def from_params(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every device of a VM, normalized; raises InvalidParameter."""
    listed = params.get("devices")
    if listed is not None and not isinstance(listed, list):
        raise InvalidParameter("Invalid parameter: devices must be a list")
    listed = list(listed or [])
    types = {d.get("type") for d in listed if isinstance(d, dict)}
    result: list[dict[str, Any]] = []
    for dev in listed:
        if not isinstance(dev, dict):
            raise InvalidParameter("Invalid parameter: each device must be a struct")
        kind = dev.get("type")
        if kind not in _KNOWN_TYPES:
            log.info("ignoring device of unsupported type %r", kind)
            continue
        result.append(normalize(dev))
    if "disk" not in types:
        result += [normalize_disk(d) for d in _as_list(params.get("drives"),
                                                       "drives")]
    if "interface" not in types:
        result += [normalize_nic(n) for n in _classic_nics(params)]
    if "graphics" not in types and params.get("display"):
        result += _display(params)
    if "balloon" not in types:
        result.append(_balloon(params.get("balloon")))
    if "channel" not in types:
        result += [{"type": "channel", "device": "unix", "name": name}
                   for name in (OVIRT_AGENT_CHANNEL, GUEST_AGENT_CHANNEL)]
    elif not any(d["type"] == "channel" and d.get("name") == GUEST_AGENT_CHANNEL
                 for d in result):
        # Every VM gets the qemu-guest-agent channel the poller talks to.
        result.append({"type": "channel", "device": "unix",
                       "name": GUEST_AGENT_CHANNEL})
    if "console" not in types:
        result.append({"type": "console", "device": "console"})
    assign_disk_names(result)
    return result


def normalize(dev: dict[str, Any]) -> dict[str, Any]:
    kind = dev["type"]
    if kind == "disk":
        return normalize_disk(dev)
    if kind == "interface":
        return normalize_nic(dev)
    if kind == "graphics":
        return _graphics(dev.get("device", "vnc"), dev)
    if kind == "balloon":
        return _balloon(dev.get("specParams") or {})
    return dict(dev)


def normalize_disk(spec: Any) -> dict[str, Any]:
    """A drive (classic ``drives`` item or a ``disk`` device)."""
    if not isinstance(spec, dict):
        raise InvalidParameter("Invalid parameter: a drive must be a struct")
    device = spec.get("device") or "disk"
    if device not in _DISK_DEVICES:
        raise InvalidParameter(f"Invalid parameter: drive device {device!r}; "
                               f"use one of {', '.join(_DISK_DEVICES)}")
    iface = spec.get("iface") or _DEFAULT_IFACE[device]
    if iface not in _DISK_IFACES:
        raise InvalidParameter(f"Invalid parameter: drive iface {iface!r}; use "
                               f"one of {', '.join(_DISK_IFACES)}")
    fmt = spec.get("format") or "raw"
    if fmt not in ("raw", "cow"):
        raise InvalidParameter(f"Invalid parameter: drive format {fmt!r}; "
                               "use raw or cow")
    volume = {k: spec[k] for k in VOLUME_KEYS if spec.get(k)}
    path = spec.get("path")
    if volume and len(volume) != len(VOLUME_KEYS):
        missing = [k for k in VOLUME_KEYS if k not in volume]
        raise MissingParameter(f"Missing required parameter: drive volume "
                               f"needs {', '.join(missing)}")
    if device == "disk" and not path and not volume:
        raise MissingParameter("Missing required parameter: a disk drive needs "
                               "a path or domainID/poolID/imageID/volumeID")
    if path is not None and not isinstance(path, str):
        raise InvalidParameter("Invalid parameter: drive path must be a string")
    propagate = str(spec.get("propagateErrors") or "off")
    if propagate not in ("on", "off"):
        raise InvalidParameter("Invalid parameter: propagateErrors must be "
                               "on or off")
    disk = {
        "type": "disk", "device": device, "iface": iface,
        "path": path or "", "format": fmt,
        "readonly": _bool(spec.get("readonly"), default=device != "disk"),
        "propagateErrors": propagate,
        "deviceId": str(spec.get("deviceId") or uuid.uuid4()),
    }
    disk.update(volume)
    if spec.get("index") not in (None, ""):
        disk["index"] = _int(spec["index"], "drive index", 0, 25)
    for key in ("serial", "cache", "name", "alias", "diskType"):
        if spec.get(key):
            disk[key] = str(spec[key])
    if _bool(spec.get("discard"), default=False):
        disk["discard"] = True      # guest discards reach the image
    if spec.get("bootOrder") not in (None, ""):
        disk["bootOrder"] = _int(spec["bootOrder"], "bootOrder", 1, 999)
    _custom(disk, spec)
    return disk


def normalize_nic(spec: Any) -> dict[str, Any]:
    """A NIC (classic ``nics`` item or an ``interface`` device)."""
    if not isinstance(spec, dict):
        raise InvalidParameter("Invalid parameter: a NIC must be a struct")
    network = spec.get("network") or spec.get("bridge")
    if not network:
        raise MissingParameter("Missing required parameter: a NIC needs "
                               "bridge or network")
    kind = "network" if spec.get("device") == "network" else "bridge"
    model = spec.get("nicModel") or "virtio"
    if model not in NIC_MODELS:
        raise InvalidParameter(f"Invalid parameter: nicModel {model!r}; use "
                               "virtio, rtl8139 or e1000")
    mac = spec.get("macAddr") or random_mac()
    if not _MAC_RE.match(mac):
        raise InvalidParameter(f"Invalid parameter: macAddr {mac!r}")
    nic = {"type": "interface", "device": kind, "network": str(network),
           "macAddr": mac.lower(), "nicModel": NIC_MODELS[model],
           "deviceId": str(spec.get("deviceId") or uuid.uuid4())}
    for key in ("alias", "name"):
        if spec.get(key):
            nic[key] = str(spec[key])
    if spec.get("linkActive") not in (None, ""):
        nic["linkActive"] = str(spec["linkActive"]).lower() in ("true", "1")
    _custom(nic, spec)
    return nic


def _custom(device: dict[str, Any], spec: dict[str, Any]) -> None:
    """A device's custom properties (handed to its device hooks)."""
    custom = spec.get("custom")
    if custom in (None, "", {}):
        return
    if not isinstance(custom, dict):
        raise InvalidParameter("Invalid parameter: device custom must be a struct")
    device["custom"] = {str(k): str(v) for k, v in custom.items()}


def random_mac() -> str:
    """A MAC in the oVirt range 00:1a:4a:xx:xx:xx."""
    tail = [random.randint(0, 255) for _ in range(3)]
    return "00:1a:4a:" + ":".join(f"{b:02x}" for b in tail)


def assign_disk_names(devices: Iterable[dict[str, Any]]) -> None:
    """Give every disk without one a target name (vda, hdc, sda...).

    ``index`` picks the letter; the others take the first free one.
    """
    disks = [d for d in devices if d["type"] == "disk"]
    used = {d["name"] for d in disks if d.get("name")}
    for d in disks:
        if not d.get("name") and "index" in d:
            name = _PREFIX[d["iface"]] + chr(ord("a") + d["index"])
            if name in used:
                raise InvalidParameter(f"Invalid parameter: two drives at "
                                       f"{d['iface']} index {d['index']}")
            d["name"] = name
            used.add(name)
    for d in disks:
        if not d.get("name"):
            prefix = _PREFIX[d["iface"]]
            d["name"] = next(prefix + chr(ord("a") + i) for i in range(26)
                             if prefix + chr(ord("a") + i) not in used)
            used.add(d["name"])


def classic_drive(disk: dict[str, Any]) -> dict[str, Any]:
    """A disk device as a classic ``drives`` entry."""
    keys = ("path", "format", "iface", "device", "index", "readonly",
            "propagateErrors", "name", "serial", "deviceId", *VOLUME_KEYS)
    drive = {k: disk[k] for k in keys if k in disk}
    drive["readonly"] = "true" if disk.get("readonly") else "false"
    return drive


def _classic_nics(params: dict[str, Any]) -> list[dict[str, Any]]:
    nics = _as_list(params.get("nics"), "nics")
    if nics or not params.get("macAddr") and not params.get("bridge"):
        return nics
    # 2011 style: comma separated lists, one item per NIC.
    macs = _split(params.get("macAddr"))
    bridges = _split(params.get("bridge"))
    models = _split(params.get("nicModel"))
    count = max(len(macs), len(bridges))
    return [{"macAddr": macs[i] if i < len(macs) else None,
             "bridge": bridges[i] if i < len(bridges) else bridges[-1],
             "nicModel": models[i] if i < len(models) else None}
            for i in range(count)]


def _display(params: dict[str, Any]) -> list[dict[str, Any]]:
    kind = params["display"]
    if kind not in ("vnc", "qxl", "spice"):
        raise InvalidParameter(f"Invalid parameter: display {kind!r}; use vnc "
                               "or qxl")
    graphics = _graphics("vnc" if kind == "vnc" else "spice", {
        "port": params.get("displayPort"),
        "tlsPort": params.get("displaySecurePort"),
        "listen": params.get("displayIp"),
        "keyMap": params.get("keyboardLayout")})
    video = {"type": "video", "device": "vga" if kind == "vnc" else "qxl"}
    return [graphics, video]


def _graphics(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    if kind not in ("vnc", "spice"):
        raise InvalidParameter(f"Invalid parameter: graphics {kind!r}")
    specs = spec.get("specParams") or {}
    port = _port(spec.get("port"), "displayPort")
    graphics = {"type": "graphics", "device": kind, "port": port,
                "tlsPort": _port(spec.get("tlsPort"), "displaySecurePort"),
                "listen": str(spec.get("listen") or specs.get("displayIp")
                              or "0"),
                "deviceId": str(spec.get("deviceId") or uuid.uuid4())}
    keymap = spec.get("keyMap") or specs.get("keyMap")
    if keymap:
        graphics["keyMap"] = str(keymap)
    return graphics


def _port(value: Any, key: str) -> int:
    if value in (None, "", "auto"):
        return -1
    return _int(value, key, -1, 65535)


def _balloon(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        model = value.get("model", "virtio")
    elif value in (None, "", True, "true"):
        model = "virtio"
    elif value in (False, "false"):
        model = "none"
    else:
        model = str(value)
    if model not in ("virtio", "none"):
        raise InvalidParameter(f"Invalid parameter: balloon model {model!r}")
    return {"type": "balloon", "device": "memballoon",
            "specParams": {"model": model}}


def _as_list(value: Any, key: str) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise InvalidParameter(f"Invalid parameter: {key} must be a list")
    return value


def _split(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _bool(value: Any, *, default: bool) -> bool:
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _int(value: Any, key: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidParameter(f"Invalid parameter: {key} {value!r}") from None
    if not low <= number <= high:
        raise InvalidParameter(f"Invalid parameter: {key} must be within "
                               f"{low}..{high}, got {number}")
    return number
