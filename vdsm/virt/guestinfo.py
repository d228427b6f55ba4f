"""What the guest agent tells about the guest: name, OS, time zone, IPs.

Read through libvirt's guest agent APIs (qemu-guest-agent in the guest)
and turned into the classic stats keys. Called by the sampler in its own
thread with a timeout, only for VMs whose agent is connected.
"""

from __future__ import annotations

import logging
from typing import Any

import libvirt

log = logging.getLogger(__name__)

INFO_TYPES = (libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME
              | libvirt.VIR_DOMAIN_GUEST_INFO_OS
              | libvirt.VIR_DOMAIN_GUEST_INFO_TIMEZONE)


def collect(dom: libvirt.virDomain) -> dict[str, Any]:
    """Classic guest keys; whatever the agent cannot answer is left out."""
    stats: dict[str, Any] = {}
    try:
        info = dom.guestInfo(INFO_TYPES, 0)
    except libvirt.libvirtError as e:
        log.debug("guest info failed: %s", e.get_error_message())
        info = {}
    if info.get("hostname"):
        stats["guestName"] = stats["guestFQDN"] = info["hostname"]
    if any(k.startswith("os.") for k in info):
        stats["guestOsInfo"] = {
            "type": "linux" if info.get("os.kernel-release") else "unknown",
            "name": info.get("os.name", ""),
            "version": info.get("os.version-id", ""),
            "kernel": info.get("os.kernel-release", ""),
            "arch": info.get("os.machine", ""),
            "codename": info.get("os.version", "")}
        stats["guestOs"] = info.get("os.kernel-release", "")
    if "timezone.offset" in info:
        stats["guestTimezone"] = {"zone": info.get("timezone.name", ""),
                                  "offset": int(info["timezone.offset"]) // 60}
    try:
        addresses = dom.interfaceAddresses(
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0)
    except libvirt.libvirtError as e:
        log.debug("guest interfaces failed: %s", e.get_error_message())
        return stats
    ifaces, ips = [], []
    for name, iface in sorted(addresses.items()):
        inet = [a["addr"] for a in iface.get("addrs") or []
                if a["type"] == libvirt.VIR_IP_ADDR_TYPE_IPV4]
        inet6 = [a["addr"] for a in iface.get("addrs") or []
                 if a["type"] == libvirt.VIR_IP_ADDR_TYPE_IPV6]
        ifaces.append({"name": name, "hw": iface.get("hwaddr") or "",
                       "inet": inet, "inet6": inet6})
        if name != "lo":
            ips += inet
    stats["netIfaces"] = ifaces
    stats["guestIPs"] = " ".join(ips)
    return stats
