"""Privileged host device work: the SR-IOV VF count (sysfs, root only).

Validation of the request (a PF, within totalvfs) happens in
:mod:`vdsm.host.hostdev.sriov` on both sides; here the address is checked
to name a real PCI device so no other sysfs file can be written.
"""

from __future__ import annotations

import os
import re

from vdsm.common.errors import InvalidParameter
from vdsm.host.hostdev import sriov
from vdsm.supervdsm.ops import OpContext, operation

PCI_DEVICES = "/sys/bus/pci/devices"
_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


@operation
def set_sriov_numvfs(ctx: OpContext, *, pci_address: str, numvfs: int) -> None:
    """Set the number of VFs of the PF at ``pci_address`` (0000:05:00.0)."""
    if not _ADDRESS.match(pci_address):
        raise InvalidParameter(f"Invalid parameter: {pci_address!r} is not "
                               f"a PCI address")
    device_dir = os.path.join(PCI_DEVICES, pci_address)
    if not os.path.exists(os.path.join(device_dir, "sriov_totalvfs")):
        raise InvalidParameter(f"Invalid parameter: {pci_address} is not an "
                               f"SR-IOV physical function")
    try:
        sriov.write_numvfs(device_dir, numvfs)
    except OSError as e:
        raise InvalidParameter(f"Invalid parameter: {pci_address}: setting "
                               f"{numvfs} VFs failed: {e.strerror}") from None
