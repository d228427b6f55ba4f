from __future__ import annotations

import pytest

from vdsm.network import bondopts
from vdsm.network.errors import BadBonding


def test_names_become_numbers_and_order_is_canonical():
    assert bondopts.canonical("miimon=100 mode=active-backup") == \
        "mode=1 miimon=100"
    assert bondopts.canonical(bondopts.DEFAULT_OPTIONS) == "mode=4 miimon=150"


@pytest.mark.parametrize("text", [
    "foo=bar", "mode=7", "mode=fast", "miimon=-1", "miimon", "mode=1 mode=2",
    "arp_ip_target=10.0.0.300", "lacp_rate=medium", "use_carrier=2"])
def test_bad_options_are_bad_bonding(text):
    with pytest.raises(BadBonding):
        bondopts.parse(text)


def test_keywords_for_netlink():
    kw, primary = bondopts.keywords(bondopts.parse(
        "mode=active-backup miimon=100 primary=eth1 lacp_rate=fast "
        "arp_ip_target=10.0.0.1,10.0.0.2 xmit_hash_policy=layer3+4"))
    assert kw == {"bond_mode": 1, "bond_miimon": 100, "bond_ad_lacp_rate": 1,
                  "bond_arp_ip_target": ["10.0.0.1", "10.0.0.2"],
                  "bond_xmit_hash_policy": 1}
    assert primary == "eth1"


def test_from_kernel_reads_back_what_we_set():
    data = {"IFLA_BOND_MODE": 4, "IFLA_BOND_MIIMON": 150,
            "IFLA_BOND_ACTIVE_SLAVE": 3, "IFLA_BOND_AD_LACP_RATE": 0}
    assert bondopts.from_kernel(data) == {"mode": "4", "miimon": "150",
                                          "lacp_rate": "0"}
