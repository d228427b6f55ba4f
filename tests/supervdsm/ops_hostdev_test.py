"""set_sriov_numvfs refuses what is not a PF's address before writing
(against this machine's real /sys: it has no SR-IOV device, so the write
itself is tested on a directory in tests/host/hostdev_test.py)."""

from __future__ import annotations

import os

import pytest

from vdsm.common.errors import InvalidParameter
from vdsm.config import Config
from vdsm.supervdsm import ops, ops_hostdev

CTX = ops.OpContext(config=Config(), peer=ops.Peer(pid=1, uid=0, gid=0))


@pytest.mark.parametrize("address", ["../../kernel", "0000:00:01.0/../x",
                                     "0000:00:01.8", "pci_0000_00_01_0", ""])
def test_only_pci_addresses(address):
    with pytest.raises(InvalidParameter, match="not a PCI address"):
        ops_hostdev.set_sriov_numvfs(CTX, pci_address=address, numvfs=1)


def test_a_device_without_sriov_is_refused():
    devices = sorted(os.listdir(ops_hostdev.PCI_DEVICES)) \
        if os.path.isdir(ops_hostdev.PCI_DEVICES) else []
    plain = [d for d in devices if not os.path.exists(
        os.path.join(ops_hostdev.PCI_DEVICES, d, "sriov_totalvfs"))]
    if not plain:
        pytest.skip("no PCI device without SR-IOV on this host")
    with pytest.raises(InvalidParameter, match="not an SR-IOV"):
        ops_hostdev.set_sriov_numvfs(CTX, pci_address=plain[0], numvfs=1)


def test_registered_in_the_allowlist():
    assert "set_sriov_numvfs" in ops.load()
