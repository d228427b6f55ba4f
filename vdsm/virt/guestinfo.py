"""What the guest agent tells about the guest: name, OS, time zone, IPs.

Read through libvirt's guest agent APIs (qemu-guest-agent in the guest)
and turned into the classic stats keys. Called by the guest agent poller
(guestagent.py) in its own thread, only for VMs whose agent is connected.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import libvirt
import libvirt_qemu

log = logging.getLogger(__name__)

INFO_TYPES = (libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME
              | libvirt.VIR_DOMAIN_GUEST_INFO_OS
              | libvirt.VIR_DOMAIN_GUEST_INFO_TIMEZONE
              | libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM)


def collect(dom: libvirt.virDomain) -> dict[str, Any]:
    """Classic guest keys; whatever the agent cannot answer is left out."""
    stats: dict[str, Any] = {}
    try:
        info = dom.guestInfo(INFO_TYPES, 0)
    except libvirt.libvirtError as e:
        log.debug("guest info failed: %s", e.get_error_message())
        if e.get_error_code() == libvirt.VIR_ERR_AGENT_UNRESPONSIVE:
            return stats   # the next calls would only wait as long again
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
    if info:   # answered; no fs.* keys: no file system worth listing
        stats["disksUsage"] = disks_usage(info)
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


def disks_usage(info: dict[str, Any]) -> list[dict[str, str]]:
    """The classic disksUsage list from guestInfo's fs.<n>.* keys."""
    result = []
    for n in range(int(info.get("fs.count", 0))):
        key = f"fs.{n}."
        if key + "total-bytes" not in info:
            continue   # the agent could not stat it
        result.append({"path": info.get(key + "mountpoint", ""),
                       "fs": info.get(key + "fstype", ""),
                       "total": str(info[key + "total-bytes"]),
                       "used": str(info.get(key + "used-bytes", 0))})
    return result


def agent_version(dom: libvirt.virDomain, timeout: int) -> str | None:
    """qemu-ga's own version (guest-info), for the classic appsList."""
    try:
        answer = libvirt_qemu.qemuAgentCommand(
            dom, json.dumps({"execute": "guest-info"}), timeout, 0)
        return json.loads(answer)["return"]["version"]
    except libvirt.libvirtError as e:
        log.debug("guest-info failed: %s", e.get_error_message())
    except (ValueError, KeyError, TypeError) as e:
        log.warning("unexpected guest-info answer: %s", e)
    return None
