from __future__ import annotations

import os

import pytest

from vdsm.common import errors
from vdsm.host import hardware

KEYS = {"systemManufacturer", "systemProductName", "systemVersion",
        "systemSerialNumber", "systemUUID", "systemFamily"}


def test_this_machine():
    info = hardware.get_hardware_info()
    assert set(info) == KEYS
    if not os.path.isdir(hardware.DMI_DIR):
        print("no DMI on this machine: every value is ''")
        assert set(info.values()) == {""}
    else:
        with open(os.path.join(hardware.DMI_DIR, "sys_vendor")) as f:
            assert info["systemManufacturer"] == f.read().strip()


def test_dmi_files(tmp_path):
    (tmp_path / "sys_vendor").write_text("Dell Inc.\n")
    (tmp_path / "product_name").write_text("PowerEdge R640\n")
    (tmp_path / "product_family").write_text("Not Specified\n")
    info = hardware.get_hardware_info(str(tmp_path))
    assert info["systemManufacturer"] == "Dell Inc."
    assert info["systemProductName"] == "PowerEdge R640"
    assert info["systemFamily"] == ""
    assert info["systemUUID"] == ""


def test_read_error_raises(tmp_path):
    (tmp_path / "product_uuid").mkdir()  # reading it fails with EISDIR
    with pytest.raises(errors.CannotRetrieveHWInfo) as e:
        hardware.get_hardware_info(str(tmp_path))
    assert "product_uuid" in str(e.value)
