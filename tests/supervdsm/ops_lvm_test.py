"""LVM through a real supervdsmd: vdsm.storage.lvm with the supervdsm client
as its runner (as in vdsmd), and the ops' refusal of bad arguments."""

from __future__ import annotations

import pytest

from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.api.codes import CODES
from vdsm.common.errors import InvalidParameter
from vdsm.storage import lvm_errors as errors
from vdsm.storage.lvm import LVM
from vdsm.storage.lvm_cmd import device_mapper_available

pytestmark = need_lvm

EXTENT = 128 * 1024 * 1024


@pytest.fixture
def luns():
    with loop_devices(2) as devices:
        yield devices


def test_lvm_through_supervdsmd(client, supervdsmd, luns):
    lvm = LVM(client)
    with vg_names(1) as (vg,):
        lvm.pvcreate(luns)
        lvm.vgcreate(vg, luns, tags=["RHAT_storage_domain"])
        assert lvm.vg(vg).pv_names == tuple(luns)
        lv = lvm.lvcreate(vg, "vol", EXTENT, tags=["IU_img", "PU_none"])
        assert lv.tags == ("IU_img", "PU_none") and lv.size == EXTENT
        lvm.lvextend(vg, "vol", 2 * EXTENT)
        lvm.change_lv_tags(vg, "vol", delete=["PU_none"], add=["PU_other"])
        lvm.lvrename(vg, "vol", "vol2")
        assert [(v.name, v.size, set(v.tags)) for v in lvm.lvs(vg)] == [
            ("vol2", 2 * EXTENT, {"IU_img", "PU_other"})]
        # Errors cross the socket as the same classes, with their codes.
        with pytest.raises(errors.LogicalVolumeAlreadyExists) as e:
            lvm.lvcreate(vg, "vol2", EXTENT)
        assert CODES[e.value.name][0] == 604
        lvm.set_devices("nosuchvg", luns[:1])
        with pytest.raises(errors.VolumeGroupDoesNotExist) as e:
            lvm.lvcreate("nosuchvg", "x", EXTENT)
        assert CODES[e.value.name][0] == 506
        if not device_mapper_available():   # this kernel: refused, coded
            with pytest.raises(errors.CannotActivateLogicalVolume):
                lvm.activate(vg, "vol2")
        lvm.lvremove(vg, "vol2")
        lvm.vgremove(vg)
        assert lvm.pvs(luns)[0].vg_name == ""
    assert "op lvm_lvcreate from pid=" in supervdsmd.log()


D = "/dev/loop7"


@pytest.mark.parametrize("op, args, text", [
    ("lvm_pvcreate", {"devices": ["/etc/passwd"], "pvs": ["/etc/passwd"]},
     "bad device path"),
    ("lvm_pvcreate", {"devices": [D], "pvs": ["/dev/sda"]}, "outside the filter"),
    ("lvm_pvcreate", {"devices": [D], "pvs": [D], "metadata_copies": 5},
     "metadata_copies"),
    ("lvm_pvcreate", {"devices": [D], "pvs": [D], "metadata_size": "128m"},
     "must be of type int"),
    ("lvm_pvresize", {"devices": [], "pvs": []}, "need 1 to"),
    ("lvm_pvremove", {"devices": [D], "pvs": ["/dev/sda"]}, "outside the filter"),
    ("lvm_vgreduce", {"devices": [D], "vg": "../x", "pvs": [D]}, "bad VG name"),
    ("lvm_vgreduce", {"devices": [D], "vg": "vg", "pvs": ["/dev/sda"]},
     "outside the filter"),
    ("lvm_vgcreate", {"devices": [D], "vg": "../x", "pvs": [D]}, "bad VG name"),
    ("lvm_vgcreate", {"devices": [D], "vg": "vg", "pvs": [D], "tags": ["-ff"]},
     "bad tag"),
    ("lvm_vgcreate", {"devices": [D], "vg": "vg", "pvs": [D], "extent_size": 0},
     "bad extent_size"),
    ("lvm_vgchange_tags", {"devices": [D], "vg": "vg", "add": ["x"] * 65,
                           "delete": []}, "at most 64 tags"),
    ("lvm_lvcreate", {"devices": [D], "vg": "vg", "lv": "a b", "size": EXTENT},
     "bad LV name"),
    ("lvm_lvcreate", {"devices": [D], "vg": "vg", "lv": "lv", "size": True},
     "must be of type int"),
    ("lvm_lvcreate", {"devices": [D], "vg": "vg", "lv": "lv", "size": -512},
     "bad size"),
    ("lvm_lvcreate", {"devices": [D], "vg": "vg", "lv": "lv", "size": 512,
                      "zero": True}, "unexpected argument"),
    ("lvm_lvresize", {"devices": [D], "vg": "vg", "lv": "lv", "size": 1000},
     "bad size"),
    ("lvm_lvrename", {"devices": [D], "vg": "vg", "lv": "lv", "new_name": "-x"},
     "bad LV name"),
    ("lvm_lvchange_state", {"devices": [D], "vg": "vg", "lv": "lv",
                            "state": "merge"}, "bad LV state change"),
    ("lvm_report", {"kind": "seg", "devices": [D]}, "bad report kind"),
    ("lvm_report", {"kind": "vg", "devices": ["/dev/a|b"]}, "bad device path"),
    ("lvm_report", {"kind": "pv", "devices": [D], "names": ["/dev/sdb"]},
     "outside the filter"),
])
def test_bad_arguments_refused(client, supervdsmd, op, args, text):
    with pytest.raises(InvalidParameter, match=text):
        client.call(op, **args)
