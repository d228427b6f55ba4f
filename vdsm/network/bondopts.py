"""Bonding options: the classic ``"mode=802.3ad miimon=150"`` strings.

The engine sends bond options as the text of the bonding driver's sysfs
files; netlink wants numbers in ``IFLA_BOND_*`` attributes. This module
parses and checks the text (unknown options and bad values are the
classic ERR_BAD_BONDING) and turns it into pyroute2 ``bond_*`` keywords.
Pure: no kernel needed.
"""

from __future__ import annotations

import ipaddress

from vdsm.network.errors import BadBonding

DEFAULT_OPTIONS = "mode=802.3ad miimon=150"  # the classic default

MODES = {"balance-rr": 0, "active-backup": 1, "balance-xor": 2,
         "broadcast": 3, "802.3ad": 4, "balance-tlb": 5, "balance-alb": 6}
_ENUMS = {
    "mode": MODES,
    "lacp_rate": {"slow": 0, "fast": 1},
    "xmit_hash_policy": {"layer2": 0, "layer3+4": 1, "layer2+3": 2,
                         "encap2+3": 3, "encap3+4": 4, "vlan+srcmac": 5},
    "arp_validate": {"none": 0, "active": 1, "backup": 2, "all": 3,
                     "filter": 4, "filter_active": 5, "filter_backup": 6},
    "arp_all_targets": {"any": 0, "all": 1},
    "fail_over_mac": {"none": 0, "active": 1, "follow": 2},
    "primary_reselect": {"always": 0, "better": 1, "failure": 2},
    "ad_select": {"stable": 0, "bandwidth": 1, "count": 2},
}
# option -> (netlink keyword, largest value)
_NUMBERS = {
    "miimon": ("bond_miimon", 2**31 - 1),
    "updelay": ("bond_updelay", 2**31 - 1),
    "downdelay": ("bond_downdelay", 2**31 - 1),
    "use_carrier": ("bond_use_carrier", 1),
    "arp_interval": ("bond_arp_interval", 2**31 - 1),
    "resend_igmp": ("bond_resend_igmp", 255),
    "num_grat_arp": ("bond_num_peer_notif", 255),
    "num_unsol_na": ("bond_num_peer_notif", 255),
    "all_slaves_active": ("bond_all_slaves_active", 1),
    "min_links": ("bond_min_links", 2**31 - 1),
    "lp_interval": ("bond_lp_interval", 2**31 - 1),
    "packets_per_slave": ("bond_packets_per_slave", 65535),
    "tlb_dynamic_lb": ("bond_tlb_dynamic_lb", 1),
    "ad_actor_sys_prio": ("bond_ad_actor_sys_prio", 65535),
    "ad_user_port_key": ("bond_ad_user_port_key", 1023),
}
_ENUM_KEYWORDS = {"mode": "bond_mode", "lacp_rate": "bond_ad_lacp_rate",
                  "xmit_hash_policy": "bond_xmit_hash_policy",
                  "arp_validate": "bond_arp_validate",
                  "arp_all_targets": "bond_arp_all_targets",
                  "fail_over_mac": "bond_fail_over_mac",
                  "primary_reselect": "bond_primary_reselect",
                  "ad_select": "bond_ad_select"}
MAX_ARP_TARGETS = 16


def parse(text: str) -> dict[str, str]:
    """``"mode=1 miimon=100"`` -> ``{"mode": "1", "miimon": "100"}``, checked.

    Enumerated values may be given by name or number; the result keeps
    numbers. Raises BadBonding for an unknown option, a repeated one or
    a bad value.
    """
    if not isinstance(text, str):
        raise BadBonding(f"bonding options must be a string, got {text!r}")
    result: dict[str, str] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise BadBonding(f"bad bonding option {item!r}: expected key=value")
        if key in result:
            raise BadBonding(f"bonding option {key!r} given twice")
        result[key] = _check(key, value)
    return result


def canonical(text: str) -> str:
    """The options in one spelling (numbers, sorted, mode first)."""
    opts = parse(text)
    keys = sorted(opts, key=lambda k: (k != "mode", k))
    return " ".join(f"{k}={opts[k]}" for k in keys)


def _check(key: str, value: str) -> str:
    if key in _ENUMS:
        table = _ENUMS[key]
        if value in table:
            return str(table[value])
        if value.isdigit() and int(value) in table.values():
            return value
        raise BadBonding(f"bad value {value!r} for bonding option {key!r}; "
                         f"one of {', '.join(table)}")
    if key in _NUMBERS:
        if not value.isdigit() or int(value) > _NUMBERS[key][1]:
            raise BadBonding(f"bad value {value!r} for bonding option {key!r}")
        return str(int(value))
    if key == "arp_ip_target":
        targets = value.split(",")
        if len(targets) > MAX_ARP_TARGETS:
            raise BadBonding(f"at most {MAX_ARP_TARGETS} arp_ip_target")
        for t in targets:
            try:
                ipaddress.IPv4Address(t)
            except ValueError:
                raise BadBonding(f"bad arp_ip_target {t!r}") from None
        return value
    if key == "primary":
        if not value or len(value) > 15 or "/" in value:
            raise BadBonding(f"bad primary slave {value!r}")
        return value
    raise BadBonding(f"unknown bonding option {key!r}")


def keywords(opts: dict[str, str]) -> tuple[dict[str, object], str | None]:
    """pyroute2 ``bond_*`` keywords for parsed options, and the primary
    slave's name (netlink wants its index, resolved when applied)."""
    kw: dict[str, object] = {}
    primary = None
    for key, value in opts.items():
        if key in _ENUM_KEYWORDS:
            kw[_ENUM_KEYWORDS[key]] = int(value)
        elif key in _NUMBERS:
            kw[_NUMBERS[key][0]] = int(value)
        elif key == "arp_ip_target":
            kw["bond_arp_ip_target"] = value.split(",")
        elif key == "primary":
            primary = value
    return kw, primary


def from_kernel(data: dict[str, object]) -> dict[str, str]:
    """The options a bond reports (IFLA_BOND_* of IFLA_INFO_DATA) in the
    form :func:`parse` gives, for the keys we can set."""
    by_keyword = {kw: key for key, kw in _ENUM_KEYWORDS.items()}
    by_keyword.update({kw: key for key, (kw, _) in _NUMBERS.items()
                       if key != "num_unsol_na"})
    result = {}
    for attr, value in data.items():
        if not attr.startswith("IFLA_BOND_"):
            continue
        key = by_keyword.get("bond_" + attr[len("IFLA_BOND_"):].lower())
        if key is not None:
            result[key] = str(value)
    return result
