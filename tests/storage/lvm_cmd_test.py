"""LVM command lines, argument checks and the error each recorded real
failure of lvm2 2.03.16 maps to (tests/storage/data/lvm_*.err)."""

from __future__ import annotations

import os

import pytest

from tests.storage.helpers import HERE
from vdsm.api.codes import CODES
from vdsm.common.errors import InvalidParameter
from vdsm.storage import lvm_cmd
from vdsm.storage import lvm_errors as errors

DATA = os.path.join(HERE, "data")
DEVS = ["/dev/loop3", "/dev/mapper/3600a.b+c"]


def read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def test_config_accepts_exactly_the_devices():
    text = lvm_cmd.config(DEVS)
    assert ('filter = [ "a|^/dev/loop3$|", "a|^/dev/mapper/3600a[.]b[+]c$|", '
            '"r|.*|" ]') in text
    for setting in ("use_devicesfile = 0", "obtain_device_list_from_udev = 0",
                    'hints = "none"', "use_lvmlockd = 0", "wait_for_locks = 1"):
        assert setting in text
    assert "activation" not in text
    assert "global { wait_for_locks = 1 prioritise_write_locks = 1 " \
        "use_lvmlockd = 0 activation = 0 }" in lvm_cmd.config(DEVS, activation=False)


def test_lvcreate_argv():
    argv, error = lvm_cmd.build(
        "lvcreate", DEVS, {"vg": "vg1", "lv": "lv1", "size": 1 << 30,
                           "tags": ["IU_x", "PU_y"]}, activation=False)
    assert argv[:3] == ["lvm", "lvcreate", "--config"]
    assert "activation = 0" in argv[3]
    assert argv[4:] == ["--autobackup", "n", "--contiguous", "n", "--activate", "n",
                        "--zero", "n", "--wipesignatures", "n",
                        "--size", "1073741824b", "--addtag", "IU_x",
                        "--addtag", "PU_y", "--name", "lv1", "vg1"]
    assert error is errors.CannotCreateLogicalVolume


@pytest.mark.parametrize("op, args, tail, error", [
    ("pvcreate", {"pvs": DEVS[:1], "metadata_size": 128 << 20,
                  "metadata_copies": 2}, ["--metadatasize", "134217728b",
                  "--metadatacopies", "2", "--metadataignore", "n", "/dev/loop3"],
     errors.PhysDevInitializationError),
    ("pvcreate", {"pvs": DEVS[:1], "metadata_size": 512, "metadata_copies": 1,
                  "metadata_ignore": True, "force": True},
     ["--metadatasize", "512b", "--metadatacopies", "1", "--metadataignore", "y",
      "-ff", "--yes", "/dev/loop3"], errors.PhysDevInitializationError),
    ("pvresize", {"pvs": DEVS}, DEVS, errors.CouldNotResizePhysicalVolume),
    ("vgcreate", {"vg": "vg1", "pvs": DEVS, "extent_size": 128 << 20,
                  "tags": ["RHAT_storage_domain"]},
     ["--autobackup", "n", "--physicalextentsize", "134217728b",
      "--addtag", "RHAT_storage_domain", "vg1", *DEVS], errors.VolumeGroupCreateError),
    ("vgextend", {"vg": "vg1", "pvs": DEVS[1:]},
     ["--autobackup", "n", "vg1", DEVS[1]], errors.VolumeGroupExtendError),
    ("vgremove", {"vg": "vg1"}, ["-f", "vg1"], errors.VolumeGroupRemoveError),
    ("pvremove", {"pvs": DEVS[1:]}, [DEVS[1]], errors.PhysDevInitializationError),
    ("vgreduce", {"vg": "vg1", "pvs": DEVS[1:]},
     ["--autobackup", "n", "vg1", DEVS[1]], errors.VolumeGroupReduceError),
    ("vgchange_tags", {"vg": "vg1", "add": ["b"], "delete": ["a"]},
     ["--autobackup", "n", "--deltag", "a", "--addtag", "b", "vg1"],
     errors.VolumeGroupReplaceTagError),
    ("lvextend", {"vg": "vg1", "lv": "lv1", "size": 4096},
     ["--autobackup", "n", "--size", "4096b", "vg1/lv1"],
     errors.LogicalVolumeExtendError),
    ("lvreduce", {"vg": "vg1", "lv": "lv1", "size": 4096},
     ["--autobackup", "n", "--force", "--size", "4096b", "vg1/lv1"],
     errors.LogicalVolumeExtendError),
    ("lvremove", {"vg": "vg1", "lv": "lv1"}, ["--autobackup", "n", "-f", "vg1/lv1"],
     errors.CannotRemoveLogicalVolume),
    ("lvrename", {"vg": "vg1", "lv": "lv1", "new_name": "lv2"},
     ["--autobackup", "n", "vg1", "lv1", "lv2"], errors.LogicalVolumeRenameError),
    ("lvchange_tags", {"vg": "vg1", "lv": "lv1", "add": ["b", "c"], "delete": []},
     ["--autobackup", "n", "--addtag", "b", "--addtag", "c", "vg1/lv1"],
     errors.LogicalVolumeAddTagError),
    ("lvchange_tags", {"vg": "vg1", "lv": "lv1", "add": [], "delete": ["a"]},
     ["--autobackup", "n", "--deltag", "a", "vg1/lv1"],
     errors.LogicalVolumeRemoveTagError),
    ("lvchange_tags", {"vg": "vg1", "lv": "lv1", "add": ["b"], "delete": ["a"]},
     ["--autobackup", "n", "--deltag", "a", "--addtag", "b", "vg1/lv1"],
     errors.LogicalVolumeReplaceTagError),
])
def test_argv(op, args, tail, error):
    argv, default = lvm_cmd.build(op, DEVS, args, activation=True)
    assert argv[1] == op.split("_")[0]
    assert argv[2:4] == ["--config", lvm_cmd.config(DEVS)]
    assert argv[4:] == tail
    assert default is error


@pytest.mark.parametrize("op, tail, error", [
    ("activate", ["--autobackup", "n", "--activate", "y", "vg1/lv1"],
     errors.CannotActivateLogicalVolume),
    ("deactivate", ["--autobackup", "n", "--activate", "n", "vg1/lv1"],
     errors.CannotDeactivateLogicalVolume),
    ("refresh", ["--refresh", "vg1/lv1"], errors.LogicalVolumeRefreshError),
])
def test_state_changes_never_disable_activation(op, tail, error):
    """Even built for a kernel without device-mapper: they must fail there,
    not pretend."""
    argv, default = lvm_cmd.build(op, DEVS, {"vg": "vg1", "lv": "lv1"},
                                  activation=False)
    assert argv[1] == "lvchange"
    assert "activation = 0" not in argv[3]
    assert argv[4:] == tail
    assert default is error


def test_report_argv():
    argv = lvm_cmd.report_argv("lv", DEVS, ["vg1"])
    assert argv[:2] == ["lvm", "lvs"]
    assert argv[4:] == ["--reportformat", "json", "--units", "b", "--nosuffix",
                        "-o", "lv_name,vg_name,lv_uuid,lv_size,lv_tags,lv_attr,devices",
                        "vg1"]


def test_unknown_op():
    with pytest.raises(InvalidParameter):
        lvm_cmd.build("lvconvert", DEVS, {}, activation=True)


@pytest.mark.parametrize("recording, default, expected, code", [
    ("lvm_lvcreate_exists.err", errors.CannotCreateLogicalVolume,
     errors.LogicalVolumeAlreadyExists, 604),
    ("lvm_lvcreate_novg.err", errors.CannotCreateLogicalVolume,
     errors.VolumeGroupDoesNotExist, 506),
    ("lvm_lvcreate_nospace.err", errors.CannotCreateLogicalVolume,
     errors.VolumeGroupSizeError, 504),
    ("lvm_lvremove_nolv.err", errors.CannotRemoveLogicalVolume,
     errors.LogicalVolumeDoesNotExistError, 610),
    ("lvm_vgcreate_exists.err", errors.VolumeGroupCreateError,
     errors.VolumeGroupAlreadyExistsError, 505),
    ("lvm_pvcreate_inuse.err", errors.PhysDevInitializationError,
     errors.PhysDevInitializationError, 601),
    ("lvm_lvchange_activate_nodm.err", errors.CannotActivateLogicalVolume,
     errors.CannotActivateLogicalVolume, 558),
])
def test_recorded_failures(recording, default, expected, code):
    err = read(recording)
    cls = errors.classify(err, default)
    assert cls is expected
    assert CODES[cls.name][0] == code
    assert "WARNING" not in errors.detail(err)


def test_every_lvm_error_has_a_code():
    classes = [v for v in vars(errors).values()
               if isinstance(v, type) and issubclass(v, errors.LVMError)]
    assert len(classes) > 20
    for cls in classes:
        assert cls.name in CODES, cls.name
        assert 500 <= CODES[cls.name][0] <= 621


@pytest.mark.parametrize("devices", [
    [], ["/etc/passwd"], ["dev/loop0"], ["/dev/../etc/passwd"], ["/dev/./loop0"],
    ["/dev/loop0/"], ['/dev/a"b'], ["/dev/a|b"], ["/dev/a b"], ["/dev/-x"],
    ["/dev//loop0"], ["/dev/loop0"] * 257,
])
def test_bad_devices(devices):
    with pytest.raises(InvalidParameter):
        lvm_cmd.check_devices(devices)


@pytest.mark.parametrize("name", [
    "", "-vg", ".", "..", "a/b", "a b", "a|b", "a\nb", "x" * 128, "é",
])
def test_bad_names(name):
    with pytest.raises(InvalidParameter):
        lvm_cmd.check_name(name)


def test_good_names_and_tags():
    assert lvm_cmd.check_name("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
    assert lvm_cmd.check_name("x" * 127)
    assert lvm_cmd.check_tags(["MDT_POOL_UUID=abc", "PU_00000000-0000", "a&44&b",
                               "IU_x.y+z:1#2/3"])


@pytest.mark.parametrize("tag", ["", "-x", "@x", "!x", "a b", "a,b", "a\"b",
                                 "a|b", "x" * 1025, "a\nb"])
def test_bad_tags(tag):
    with pytest.raises(InvalidParameter):
        lvm_cmd.check_tags([tag])


@pytest.mark.parametrize("size", [0, -512, 513, True, 1.0, "512"])
def test_bad_sizes(size):
    with pytest.raises(InvalidParameter):
        lvm_cmd.check_size(size)


@pytest.mark.parametrize("name, code", [
    ("VolumeGroupCreateError", 502), ("VolumeGroupDoesNotExist", 506),
    ("VolumeGroupBlockSizeError", 517), ("DeviceBlockSizeError", 518),
    ("CannotCreateLogicalVolume", 550), ("CannotRemoveLogicalVolume", 551),
    ("LogicalVolumeExtendError", 554), ("LogicalVolumeScanError", 557),
    ("LogicalVolumeAddTagError", 560), ("CannotWriteAccessLogialVolume", 567),
    ("LogicalVolumesScanError", 569), ("PhysDevInitializationError", 601),
    ("LogicalVolumeAlreadyExists", 604), ("MissingTagOnLogicalVolume", 609),
    ("LogicalVolumeDoesNotExistError", 610), ("VgMetadataCriticallyFull", 613),
    ("SmallVgMetadata", 614), ("CouldNotResizePhysicalVolume", 615),
    ("UnexpectedVolumeGroupMetadata", 616), ("LVMCommandError", 621),
])
def test_classic_lvm_codes(name, code):
    """The classic table (shared/api-reference/storage_codes.txt 500-621)."""
    assert CODES[name][0] == code


def test_command_timeout_and_missing_tool(monkeypatch):
    """A hung or absent command is the operation's error, not a crash."""
    monkeypatch.setattr(lvm_cmd, "TIMEOUT", 0.2)
    with pytest.raises(errors.CannotCreateLogicalVolume, match="timed out"):
        lvm_cmd._run(["sleep", "5"], errors.CannotCreateLogicalVolume)
    with pytest.raises(errors.PhysDevInitializationError,
                       match="could not be started"):
        lvm_cmd._run(["/nonexistent/lvm", "pvcreate"],
                     errors.PhysDevInitializationError)
