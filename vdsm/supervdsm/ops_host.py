"""Host facts only root may read."""

from __future__ import annotations

from vdsm.host import hardware, osinfo
from vdsm.supervdsm.ops import OpContext, operation


@operation
def hardware_info(ctx: OpContext) -> dict[str, str]:
    """The firmware's system identity (getVdsHardwareInfo).

    The DMI serial number and UUID files are readable by root only, so the
    unprivileged vdsmd asks here. Raises CannotRetrieveHWInfo on a read error.
    """
    return hardware.get_hardware_info()


@operation
def iscsi_initiator_name(ctx: OpContext) -> str:
    """This host's iSCSI initiator name ('' without open-iscsi).

    /etc/iscsi/initiatorname.iscsi is readable by root only on Debian.
    """
    return osinfo.iscsi_initiator_name()
