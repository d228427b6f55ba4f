"""The classic ``getVdsCapabilities`` payload, read from this machine.

Assembled from the small readers beside this module; expensive constant
probes (QEMU, dpkg) are cached by :mod:`software`, everything else is read
fresh on each call so hot-plugged CPUs, NICs and addresses show up.
"""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

from vdsm.common import errors
from vdsm.config import Config
from vdsm.host import cpu, memory, netinfo, numa, osinfo, software

log = logging.getLogger(__name__)

# Classic defaults (MiB) for options the configuration may not define yet.
HOST_MEM_RESERVE = 256
EXTRA_MEM_RESERVE = 65
GUEST_RAM_OVERHEAD = 65


def get_capabilities(config: Config, *, hooks: dict,
                     vm_types: tuple[str, ...] = ("kvm",),
                     libvirt_conn: Any = None) -> dict[str, Any]:
    """Everything the engine needs to know about this host, classic keys.

    ``hooks``: ``{point: {script: {'checksum': sha256}}}`` from the hooks
    module. ``libvirt_conn``: an open libvirt connection, used only to add
    the ``model_<name>`` CPU models libvirt can run to cpuFlags; without it
    they are left out. ``networks`` is empty until the network subsystem
    reports its own. Raises OSError only when /proc or /sys cannot be read.
    """
    caps: dict[str, Any] = {}
    caps.update(_cpu_caps(libvirt_conn))
    caps.update(_memory_caps(config))
    caps.update(_network_caps())
    caps.update(software.version_info())
    caps.update(_os_caps(config))
    caps["hooks"] = hooks
    caps["vmTypes"] = list(vm_types)
    caps["emulatedMachines"] = list(software.emulated_machines())
    caps["packages2"] = software.package_versions()
    caps["kvmEnabled"] = osinfo.kvm_enabled()
    caps["nestedVirtualization"] = osinfo.nested_virtualization()
    caps["rngSources"] = _rng_sources()
    return caps


def _cpu_caps(libvirt_conn: Any) -> dict[str, Any]:
    blocks = cpu.read_cpuinfo()
    cpus = cpu.cpu_info(cpu_to_node=numa.cpu_to_node())
    topo = cpu.topology(cpus)
    flags = cpu.flags(blocks)
    if libvirt_conn is not None:
        flags += ["model_" + m for m in cpu.libvirt_models(
            libvirt_conn, arch=platform.machine())]
    return {
        "cpuModel": cpu.model(blocks),
        "cpuFlags": ",".join(flags),
        "cpuSpeed": cpu.frequency(blocks),
        "cpuSockets": str(topo.sockets),
        "cpuCores": str(topo.cores),
        "cpuThreads": str(topo.threads),
        "onlineCpus": ",".join(str(c) for c in topo.online_cpus),
        "cpuTopology": [
            {"cpu_id": c.cpu_id, "numa_cell_id": c.numa_cell_id,
             "socket_id": c.socket_id, "die_id": c.die_id,
             "core_id": c.core_id} for c in cpus],
        "vdsmToCpusAffinity": sorted(os.sched_getaffinity(0)),
        "numaNodes": numa.topology(),
        "numaNodeDistance": numa.distances(),
        "autoNumaBalancing": numa.autonuma_status(),
    }


def _option(config: Config, key: str, default: int) -> int:
    """An int option of [vars], or its classic default if not defined."""
    try:
        return int(config.get("vars", key))
    except errors.InvalidConfiguration:
        return default


def _memory_caps(config: Config) -> dict[str, Any]:
    meminfo = memory.read_meminfo()
    swap_total, swap_free = memory.swap_mib(meminfo)
    reserved = (_option(config, "host_mem_reserve", HOST_MEM_RESERVE)
                + _option(config, "extra_mem_reserve", EXTRA_MEM_RESERVE))
    return {
        "memSize": str(memory.mem_size_mib(meminfo)),
        "swapTotal": swap_total,
        "swapFree": swap_free,
        "reservedMem": str(reserved),
        "guestOverhead": str(_option(config, "guest_ram_overhead",
                                     GUEST_RAM_OVERHEAD)),
        "hugepages": numa.hugepage_sizes(),
    }


def _network_caps() -> dict[str, Any]:
    caps: dict[str, Any] = dict(netinfo.get())
    # The loopback device is no NIC an engine could attach a network to.
    caps["nics"] = {name: nic for name, nic in caps["nics"].items()
                    if name != "lo"}
    caps["networks"] = {}
    caps["nameservers"] = netinfo.nameservers()
    caps["supportsIPv6"] = netinfo.supports_ipv6()
    return caps


def _os_caps(config: Config) -> dict[str, Any]:
    try:
        iscsi_name = osinfo.iscsi_initiator_name()
    except PermissionError:
        # root-only on Debian: the agent asks supervdsm for it instead
        iscsi_name = ""
    return {
        "operatingSystem": osinfo.os_version(),
        "kernelArgs": osinfo.kernel_args(),
        "realtimeKernel": osinfo.realtime_kernel(),
        "uuid": osinfo.host_uuid(id_file=osinfo.vdsm_id_path(config.files)),
        "ISCSIInitiatorName": iscsi_name,
        "HBAInventory": {"iSCSI": [{"InitiatorName": iscsi_name}]
                         if iscsi_name else [], "FC": []},
        "selinux": {"mode": osinfo.selinux_mode()},
        "fipsEnabled": osinfo.fips_enabled(),
    }


def _rng_sources() -> list[str]:
    sources = ["random"]
    if os.path.exists("/dev/hwrng"):
        sources.append("hwrng")
    return sources
