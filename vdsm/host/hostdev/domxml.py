"""A VM's ``<hostdev>`` element for one host device (pure, deterministic).

PCI devices are detached by the agent before the hotplug (managed='no'),
USB and SCSI devices are opened by QEMU directly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from vdsm.common.errors import InvalidParameter


def hostdev(name: str, params: dict[str, Any]) -> str:
    """The ``<hostdev>`` XML for device ``name`` with classic ``params``;
    InvalidParameter for a capability a VM cannot be given."""
    kind = params.get("capability")
    address = params.get("address") or {}
    if kind == "pci":
        dev = ET.Element("hostdev", mode="subsystem", type="pci", managed="no")
        source = ET.SubElement(dev, "source")
        ET.SubElement(source, "address", **_hex(address, {
            "domain": 4, "bus": 2, "slot": 2, "function": 1}))
    elif kind == "usb_device":
        dev = ET.Element("hostdev", mode="subsystem", type="usb", managed="no")
        source = ET.SubElement(dev, "source")
        ET.SubElement(source, "address", bus=str(address["bus"]),
                      device=str(address["device"]))
    elif kind == "scsi":
        dev = ET.Element("hostdev", mode="subsystem", type="scsi",
                         rawio="yes")
        source = ET.SubElement(dev, "source")
        ET.SubElement(source, "adapter", name=f"scsi_host{address['host']}")
        ET.SubElement(source, "address", bus=str(address["bus"]),
                      target=str(address["target"]), unit=str(address["lun"]))
    else:
        raise InvalidParameter(f"Invalid parameter: {name} ({kind}) cannot be "
                               f"assigned to a VM")
    ET.SubElement(dev, "alias", name=f"ua-hostdev-{name}")
    return ET.tostring(dev, encoding="unicode")


def _hex(address: dict[str, Any], widths: dict[str, int]) -> dict[str, str]:
    return {field: f"0x{int(address[field]):0{width}x}"
            for field, width in widths.items()}
