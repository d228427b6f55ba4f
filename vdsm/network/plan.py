"""The difference between the kernel and the wanted devices, as steps.

:func:`plan` compares a :class:`~vdsm.network.kernel.KernelState` with the
wanted :class:`~vdsm.network.desired.Iface` set and the devices to
release, and answers an ordered list of :class:`Step`; each step is one
netlink request and the requests that undo it, computed from what the
kernel had. Requests name devices, not indexes: the executor resolves
names when it runs them, so an undo that recreates a deleted bridge is
followed by undos that find the new one. :func:`verify` lists what still
differs after applying. Pure: tests check the built requests (VLAN and
bond ones too, which this kernel cannot run).

Order: drop default routes we no longer want, detach ports, delete
released devices top-down (bridges, VLANs, bonds) and reset released
NICs, create missing devices bottom-up, attach ports, change MTUs
(decreases top-down, then increases bottom-up), replace addresses, bring
links up, start DHCP clients, install the default route. DHCP clients
no longer wanted (or holding no lease) are stopped first; a device whose
client runs and holds a lease keeps its addresses as they are.
"""

from __future__ import annotations

import dataclasses

from vdsm.network import bondopts
from vdsm.network.desired import LAYERS, VIRTUAL, Iface
from vdsm.network.errors import BadBonding, BadBridge, BadNic, BadVlan
from vdsm.network.kernel import Device, KernelState
from vdsm.network.model import DEFAULT_MTU
from vdsm.network.nlreq import (
    Req,
    Step,
    addr,
    link_add,
    link_set,
    recreate,
    route,
)


def plan(state: KernelState, desired: dict[str, Iface],
         release: dict[str, str]) -> list[Step]:
    """The steps from ``state`` to ``desired``; raises a NetworkError when a
    wanted NIC is missing or a name belongs to a device of another kind."""
    _check_kinds(state, desired, release)
    managed = set(desired) | set(release)
    steps, devs = _dhcp_stops(state, desired)
    leased = leased_devices(state)
    wanted_route = _wanted_route(desired)

    for gateway, dev in state.default_routes:
        if dev in managed and (gateway, dev) != wanted_route:
            steps.append(Step(f"remove default route via {gateway} on {dev}",
                              route("del", gateway, dev),
                              (route("add", gateway, dev),)))
    for dev in devs.values():
        want = desired.get(dev.name)
        if dev.master is None or (want is not None and want.master == dev.master):
            continue
        if dev.name in managed or dev.master in release:
            undo = (link_set(dev.name, master=dev.master),)
            master = devs.get(dev.master)
            if master is not None and master.kind == "bond":
                # A bond takes back only a slave that is down.
                undo = (link_set(dev.name, state="down"),) + undo
            steps.append(Step(f"detach {dev.name} from {dev.master}",
                              link_set(dev.name, master=""), undo))
    for name in sorted(release, key=lambda n: (-LAYERS[release[n]], n)):
        dev = devs.get(name)
        if dev is None:
            continue
        steps += _drop_addresses(dev, ())
        if release[name] in VIRTUAL:
            steps.append(Step(f"delete {release[name]} {name}",
                              Req("link", "del", name), recreate(dev)))
        elif dev.mtu != DEFAULT_MTU:
            steps.append(Step(f"reset MTU of {name}",
                              link_set(name, mtu=DEFAULT_MTU),
                              (link_set(name, mtu=dev.mtu),)))

    ordered = sorted(desired.values(), key=lambda i: (i.layer, i.name))
    for iface in ordered:
        dev = devs.get(iface.name)
        if dev is None:
            steps.append(Step(f"create {iface.kind} {iface.name}",
                              link_add(iface), (Req("link", "del", iface.name),)))
        else:
            steps += _kind_changes(dev, iface)
    downed = set()
    for iface in ordered:
        attach = _attach(devs.get(iface.name), iface, desired)
        downed.update(s.do.target for s in attach if s.do.args.get("state"))
        steps += attach
    steps += _mtu_changes(devs, ordered, desired)
    for iface in ordered:
        dev = devs.get(iface.name)
        if dev is not None and not (iface.dhcp and iface.name in leased):
            steps += _drop_addresses(dev, iface.addresses)
    for iface in ordered:
        have = devs[iface.name].addresses if iface.name in devs else ()
        for cidr in iface.addresses:
            if cidr not in have:
                steps.append(Step(f"add address {cidr} to {iface.name}",
                                  addr("add", iface.name, cidr),
                                  (addr("del", iface.name, cidr),)))
    for iface in ordered:
        dev = devs.get(iface.name)
        if dev is None or not dev.up or iface.name in downed:
            undo = (link_set(iface.name, state="down"),) \
                if dev and iface.name not in downed else ()
            steps.append(Step(f"bring {iface.name} up",
                              link_set(iface.name, state="up"), undo))
    for iface in ordered:
        if iface.dhcp and iface.name not in leased:
            steps.append(Step(f"start DHCP client on {iface.name}",
                              Req("dhcp", "start", iface.name),
                              (Req("dhcp", "stop", iface.name),)))
    if wanted_route is not None and wanted_route not in state.default_routes:
        gateway, dev_name = wanted_route
        others = [r for r in state.default_routes if r[1] not in managed]
        undo = (route("replace", *others[0]),) if others else \
            (route("del", gateway, dev_name),)
        steps.append(Step(f"default route via {gateway} on {dev_name}",
                          route("replace", gateway, dev_name), undo))
    return steps


def leased_devices(state: KernelState) -> set[str]:
    """Devices whose DHCP client runs and holds a lease (an address)."""
    return {name for name in state.dhcp
            if name in state.devices and state.devices[name].addresses}


def _dhcp_stops(state: KernelState, desired: dict[str, Iface]
                ) -> tuple[list[Step], dict[str, Device]]:
    """Stop the clients not wanted, or wanted but without a lease (they are
    started again later). Answers the steps and the devices as they will
    be after them (a stopped client's addresses are flushed)."""
    devs = dict(state.devices)
    leased = leased_devices(state)
    steps = []
    for name in sorted(state.dhcp):
        want = desired.get(name)
        if want is not None and want.dhcp and name in leased:
            continue
        undo = (Req("dhcp", "start", name),) if name in leased and not (
            want is not None and want.dhcp) else ()
        steps.append(Step(f"stop DHCP client on {name}",
                          Req("dhcp", "stop", name), undo))
        if name in devs:
            devs[name] = dataclasses.replace(devs[name], addresses=())
    return steps, devs


def _wanted_route(desired: dict[str, Iface]) -> tuple[str, str] | None:
    for iface in desired.values():
        if iface.gateway:
            return iface.gateway, iface.name
    return None


def _check_kinds(state: KernelState, desired: dict[str, Iface],
                 release: dict[str, str]) -> None:
    errors = {"nic": BadNic, "bond": BadBonding, "vlan": BadVlan,
              "bridge": BadBridge}
    for name, kind in [(i.name, i.kind) for i in desired.values()] + \
            list(release.items()):
        dev = state.devices.get(name)
        if dev is None:
            if kind == "nic" and name in desired:
                raise BadNic(f"NIC {name!r} does not exist")
            continue
        actual = dev.kind if dev.kind in VIRTUAL else "nic"
        if actual != kind:
            raise errors[kind](f"device {name!r} is a {actual}, not a {kind}")


def _kind_changes(dev: Device, iface: Iface) -> list[Step]:
    if iface.kind == "bridge":
        stp = bool(dev.data.get("IFLA_BR_STP_STATE"))
        if stp != iface.stp:
            return [Step(f"set stp of {iface.name} {'on' if iface.stp else 'off'}",
                         Req("link", "set", iface.name,
                             {"kind": "bridge", "br_stp_state": int(iface.stp)}),
                         (Req("link", "set", iface.name,
                              {"kind": "bridge", "br_stp_state": int(stp)}),))]
    elif iface.kind == "vlan":
        if dev.parent != iface.parent or \
                dev.data.get("IFLA_VLAN_ID") != iface.vlan_id:
            raise BadVlan(f"device {iface.name!r} exists with another VLAN "
                          "id or parent")
    elif iface.kind == "bond":
        have = bondopts.from_kernel(dev.data)
        want = bondopts.parse(iface.bond_options)
        changed = {k: v for k, v in want.items()
                   if k in have and have[k] != v}
        if changed:
            kw, _ = bondopts.keywords(changed)
            old, _ = bondopts.keywords({k: have[k] for k in changed})
            return [Step(f"set options of {iface.name}",
                         Req("link", "set", iface.name, {"kind": "bond", **kw}),
                         (Req("link", "set", iface.name,
                              {"kind": "bond", **old}),))]
    return []


def _is_slave(iface: Iface, desired: dict[str, Iface]) -> bool:
    master = desired.get(iface.master or "")
    return master is not None and master.kind == "bond"


def _attach(dev: Device | None, iface: Iface,
            desired: dict[str, Iface]) -> list[Step]:
    if iface.master is None or (dev is not None and dev.master == iface.master):
        return []
    steps = []
    if _is_slave(iface, desired) and dev is not None and dev.up:
        # A bond takes only slaves that are down.
        steps.append(Step(f"bring {iface.name} down to enslave it",
                          link_set(iface.name, state="down"),
                          (link_set(iface.name, state="up"),)))
    steps.append(Step(f"attach {iface.name} to {iface.master}",
                      link_set(iface.name, master=iface.master),
                      (link_set(iface.name, master=""),)))
    return steps


def _mtu_changes(devs: dict[str, Device], ordered: list[Iface],
                 desired: dict[str, Iface]) -> list[Step]:
    down, up = [], []
    for iface in ordered:
        dev = devs.get(iface.name)
        if _is_slave(iface, desired):
            continue  # the bond sets its slaves' MTU
        if dev is None:
            up.append(Step(f"set MTU of {iface.name} to {iface.mtu}",
                           link_set(iface.name, mtu=iface.mtu)))
        elif dev.mtu != iface.mtu:
            step = Step(f"set MTU of {iface.name} to {iface.mtu}",
                        link_set(iface.name, mtu=iface.mtu),
                        (link_set(iface.name, mtu=dev.mtu),))
            (down if iface.mtu < dev.mtu else up).append(step)
    return list(reversed(down)) + up


def _drop_addresses(dev: Device, keep: tuple[str, ...]) -> list[Step]:
    return [Step(f"remove address {cidr} from {dev.name}",
                 addr("del", dev.name, cidr), (addr("add", dev.name, cidr),))
            for cidr in dev.addresses if cidr not in keep]


def verify(state: KernelState, desired: dict[str, Iface],
           release: dict[str, str]) -> list[str]:
    """What in ``state`` still differs from the wanted devices (empty: all
    done)."""
    problems = []
    devs = state.devices
    for iface in desired.values():
        dev = devs.get(iface.name)
        if dev is None:
            problems.append(f"{iface.name} is missing")
            continue
        checks = [("master", dev.master, iface.master),
                  ("up", dev.up, True)]
        if iface.dhcp:
            checks.append(("leased", iface.name in leased_devices(state), True))
        else:
            checks.append(("addresses", set(dev.addresses),
                           set(iface.addresses)))
        if not _is_slave(iface, desired):
            checks.append(("mtu", dev.mtu, iface.mtu))
        if iface.kind == "bridge":
            checks.append(("stp", bool(dev.data.get("IFLA_BR_STP_STATE")),
                           iface.stp))
        elif iface.kind == "vlan":
            checks += [("parent", dev.parent, iface.parent),
                       ("vlan id", dev.data.get("IFLA_VLAN_ID"), iface.vlan_id)]
        problems += [f"{iface.name}: {what} is {have!r}, wanted {want!r}"
                     for what, have, want in checks if have != want]
    for name, kind in release.items():
        dev = devs.get(name)
        if dev is None:
            continue
        if kind in VIRTUAL:
            problems.append(f"{name} still exists")
        elif dev.master in release or dev.addresses or name in state.dhcp:
            problems.append(f"{name} is still configured")
    wanted = _wanted_route(desired)
    if wanted is not None and wanted not in state.default_routes:
        problems.append(f"no default route via {wanted[0]} on {wanted[1]}")
    return problems
