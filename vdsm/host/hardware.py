"""What the firmware says the machine is (classic ``getVdsHardwareInfo``).

Read from the kernel's DMI export in /sys/class/dmi/id instead of running
dmidecode. Virtual machines and some architectures have no DMI: every key is
then reported as ''.
"""

from __future__ import annotations

import logging
import os

from vdsm.common import errors

log = logging.getLogger(__name__)

DMI_DIR = "/sys/class/dmi/id"

# Wire key -> file under DMI_DIR.
_FIELDS = {
    "systemManufacturer": "sys_vendor",
    "systemProductName": "product_name",
    "systemVersion": "product_version",
    "systemSerialNumber": "product_serial",
    "systemUUID": "product_uuid",
    "systemFamily": "product_family",
}

# Placeholders firmware vendors write instead of leaving a field empty.
_PLACEHOLDERS = {"not specified", "to be filled by o.e.m.", "default string"}


def get_hardware_info(dmi_dir: str = DMI_DIR) -> dict[str, str]:
    """All six classic keys; '' for each the firmware does not provide.

    Raises errors.CannotRetrieveHWInfo when a DMI file exists but cannot be
    read (permissions, I/O error). Thread-safe.
    """
    info = {}
    for key, name in _FIELDS.items():
        path = os.path.join(dmi_dir, name)
        try:
            with open(path, errors="replace") as f:
                value = f.read().strip()
        except FileNotFoundError:
            value = ""
        except OSError as e:
            raise errors.CannotRetrieveHWInfo(
                f"cannot read {path}: {e}", path=path) from e
        info[key] = "" if value.lower() in _PLACEHOLDERS else value
    if not any(info.values()):
        log.debug("no DMI data under %s", dmi_dir)
    return info
