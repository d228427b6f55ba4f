"""Host network changes: bridges, VLANs, bonds, addresses, MTU, routes.

vdsmd computes which devices the configuration wants and which it
releases; this op checks that description again (it crosses the
privilege boundary), then applies it over netlink all or nothing (see
:mod:`vdsm.network.netapply`). It only creates and deletes bridge, VLAN
and bond devices; a NIC is never deleted, only configured or reset.
Devices marked ``dhcp`` get a DHCP client (run as root in the same
namespace; see :mod:`vdsm.network.dhcp`), waited for up to
``[network] dhcp_timeout`` seconds.
The namespace acted on is the configuration's ``[network] netns``
(empty: supervdsmd's own), never one named by the caller.
"""

from __future__ import annotations

from typing import Any

from vdsm.host import netinfo
from vdsm.network import desired, kernel, netapply
from vdsm.network.dhcp import DhcpClients
from vdsm.supervdsm.ops import OpContext, operation

Wire = str | int | bool | None | list[str]


@operation
def network_apply(ctx: OpContext, *, ifaces: dict[str, dict[str, Wire]],
                  release: dict[str, str]) -> dict[str, Any]:
    """Make the devices ``ifaces`` exist as described and remove or reset
    the ``release`` ones (``{name: kind}``).

    Returns ``{"changes": [...], "elapsed": s}``. Raises NetworkBadParams
    (or another network error) for a bad description, NetworkFailedIfup /
    NetworkFailedIfdown when applying failed and was undone.
    """
    wanted = desired.from_wire(ifaces)
    desired.check_release(release, wanted)
    netns = ctx.config.get("network", "netns") or None
    dhcp = DhcpClients(ctx.config.run_dir, netns=netns,
                       timeout=ctx.config.get("network", "dhcp_timeout"))
    with kernel.open_netlink(netns) as ipr:
        return netapply.apply(ipr, wanted, release, dhcp=dhcp)


@operation
def network_devices(ctx: OpContext) -> dict[str, Any]:
    """netinfo of the configured ``[network] netns``: entering another
    namespace takes CAP_SYS_ADMIN, which vdsmd gives up at start."""
    netns = ctx.config.get("network", "netns") or None
    if not netns:
        return netinfo.get()
    with kernel.open_netlink(netns) as ipr:
        return netinfo.get(ipr)
