"""libvirt node device XML -> the classic hostdevListByCaps params.

Pure functions over the XML and a sysfs root (``/sys`` on a host, a
directory in tests): PCI header type (assignability) and SR-IOV totals are
read from sysfs as libvirt does not report them.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from typing import Any

log = logging.getLogger(__name__)

SYSFS = "/sys"
PCI_ENDPOINT = 0
_ADDRESS_FIELDS = {"pci": ("domain", "bus", "slot", "function"),
                   "scsi": ("host", "bus", "target", "lun"),
                   "usb_device": ("bus", "device")}


def pci_path(name: str) -> str:
    """pci_0000_05_00_1 -> 0000:05:00.1 (the sysfs name)."""
    if not name.startswith("pci_") or name.count("_") != 4:
        raise ValueError(f"not a PCI device name: {name!r}")
    domain, bus, slot, function = name[4:].split("_")
    return f"{domain}:{bus}:{slot}.{function}"


def pci_name(domain: str, bus: str, slot: str, function: str) -> str:
    """libvirt's name of a PCI address given as 0x-prefixed hex strings."""
    return "pci_{}_{}_{}_{}".format(*(v[2:] if v.startswith("0x") else v
                                      for v in (domain, bus, slot, function)))


def parse(xml: str, *, sysfs: str = SYSFS) -> tuple[str, dict[str, Any]]:
    """(device name, classic params) of one node device."""
    dev = ET.fromstring(xml)
    name = dev.findtext("name") or ""
    cap = dev.find("capability")
    kind = cap.get("type", "") if cap is not None else ""
    params: dict[str, Any] = {"capability": kind, "is_assignable": "true"}
    if name != "computer" and dev.findtext("parent"):
        params["parent"] = dev.findtext("parent")
    driver = dev.findtext("driver/name")
    if driver:
        params["driver"] = driver
    if cap is not None:
        params.update(_product_info(cap))
        if kind in _ADDRESS_FIELDS:
            params["address"] = {f: cap.findtext(f) or ""
                                 for f in _ADDRESS_FIELDS[kind]}
        if kind == "pci":
            params.update(_pci(name, cap, sysfs))
        elif kind == "scsi_generic" and cap.findtext("char"):
            params["udev_path"] = cap.findtext("char")
        elif kind == "storage" and cap.findtext("block"):
            params["block_path"] = cap.findtext("block")
    return name, params


def _product_info(cap: ET.Element) -> dict[str, str]:
    """vendor/product/interface with their ids, as the classic answer."""
    params = {}
    for child in cap:
        if child.tag in ("vendor", "product", "interface"):
            if "id" in child.attrib:
                params[child.tag + "_id"] = child.attrib["id"]
            if child.text and child.text.strip():
                params[child.tag] = child.text.strip()
    return params


def _pci(name: str, cap: ET.Element, sysfs: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    group = cap.find("iommuGroup")
    if group is not None:
        params["iommu_group"] = group.get("number")
    numa = cap.find("numa")
    if numa is not None:
        params["numa_node"] = numa.get("node")
    sub_types = {c.get("type"): c for c in cap.findall("capability")}
    if "phys_function" in sub_types:
        address = sub_types["phys_function"].find("address")
        if address is not None:
            params["physfn"] = pci_name(**address.attrib)
    if "virt_functions" in sub_types:
        total = sub_types["virt_functions"].get("maxCount")
        if total is not None:
            params["totalvfs"] = int(total)
    if "totalvfs" not in params:
        total_vfs = _sysfs_int(sysfs, name, "sriov_totalvfs")
        if total_vfs:
            params["totalvfs"] = total_vfs
    if sub_types.keys() & {"pci-bridge", "cardbus-bridge"}:
        params["is_assignable"] = "false"
    else:
        params["is_assignable"] = str(
            _header_type(sysfs, name) in (PCI_ENDPOINT, None)).lower()
    return params


def _device_dir(sysfs: str, name: str) -> str:
    return os.path.join(sysfs, "bus/pci/devices", pci_path(name))


def _sysfs_int(sysfs: str, name: str, attr: str) -> int | None:
    try:
        with open(os.path.join(_device_dir(sysfs, name), attr)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _header_type(sysfs: str, name: str) -> int | None:
    """Byte 0x0e of the PCI config space, without the multifunction bit;
    None when unreadable (then the device counts as an endpoint)."""
    try:
        with open(os.path.join(_device_dir(sysfs, name), "config"), "rb") as f:
            f.seek(0x0E)
            byte = f.read(1)
    except OSError:
        return None
    return byte[0] & 0x7F if byte else None


def iommu_available(sysfs: str = SYSFS) -> bool:
    """True when the kernel has IOMMU groups (device assignment works)."""
    try:
        return bool(os.listdir(os.path.join(sysfs, "kernel/iommu_groups")))
    except OSError:
        return False
