"""multipathd and dmsetup: command lines, parsing of output in their real
formats (tests/storage/data/README.multipath names the samples' origin),
the supervdsm ops' failures, and the listing with device-mapper's path
states. The end-to-end read of a live multipathd is skipped here: this
kernel has no device-mapper."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.storage.devices.conftest import MPATH
from tests.storage.helpers import HERE
from vdsm.storage.devices import blockdev, multipath
from vdsm.storage.devices.errors import BlockDeviceActionError
from vdsm.supervdsm import ops_devices

DATA = os.path.join(HERE, "data")
FC = "3600a098038304437415d4b6a59684a52"


def read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def test_command_lines():
    assert multipath.maps_argv() == ["multipathd", "show", "maps", "json"]
    assert multipath.status_argv() == ["dmsetup", "status", "--target", "multipath"]


def test_parse_maps_json():
    lio, fc = multipath.parse_maps(read("multipathd_show_maps.json"))
    assert (lio.name, lio.wwid, lio.sysfs) == (MPATH, MPATH, "dm-2")
    assert lio.paths == (multipath.MapPath("sdb", "8:16", "active", "ready"),
                         multipath.MapPath("sdc", "8:32", "failed", "faulty"))
    assert (fc.name, [p.dev for p in fc.paths]) == (FC, ["sdd"])
    assert multipath.path_states([lio, fc]) == {
        "sdb": "active", "sdc": "failed", "sdd": "active"}
    assert multipath.maps_from_answer(multipath.maps_to_answer([lio, fc])) == [lio, fc]


@pytest.mark.parametrize("out", [
    "", "fail\n", "{}", '{"maps": [{"name": "x"}]}',
    "multipathd: error -11 receiving packet\n"])
def test_unexpected_maps_output_is_refused(out):
    with pytest.raises(multipath.MultipathParseError):
        multipath.parse_maps(out)


def test_parse_dmsetup_status():
    assert multipath.parse_status(read("dmsetup_status_multipath.out")) == {
        MPATH: {"8:16": "active", "8:32": "failed"}, FC: {"8:48": "active"}}
    assert multipath.parse_status(read("dmsetup_status_none.out")) == {}
    assert multipath.parse_status("") == {}


def test_device_mapper_path_states_override_scsi_state(host):
    root, udev = host
    maps = multipath.parse_maps(read("multipathd_show_maps.json"))
    states = multipath.path_states(maps)
    (lun,) = [d for d in blockdev.list_devices(root=root, source=lambda: udev,
                                               path_states={**states, "sdb": "failed"})
              if d.guid == MPATH]
    assert [(p.name, p.state) for p in lun.paths] == [("sdb", "failed"),
                                                      ("sdc", "failed")]


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    """multipathd/dmsetup on PATH replaying the recorded output (or garbage)."""
    def install(name: str, body: str) -> None:
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    return install


def test_ops_answer_recorded_maps_and_status(fake_tools):
    fake_tools("multipathd", f"cat {DATA}/multipathd_show_maps.json")
    fake_tools("dmsetup", f"cat {DATA}/dmsetup_status_multipath.out")
    maps = multipath.maps_from_answer(ops_devices.multipath_maps(None))
    assert [m.name for m in maps] == [MPATH, FC]
    assert ops_devices.multipath_status(None)[MPATH]["8:32"] == "failed"


def test_ops_failures_are_block_device_errors(fake_tools):
    fake_tools("multipathd", "echo 'error -111 receiving packet' >&2; exit 1")
    with pytest.raises(BlockDeviceActionError) as e:
        ops_devices.multipath_maps(None)
    assert "error -111" in e.value.message
    fake_tools("multipathd", "echo 'timeout'")
    with pytest.raises(BlockDeviceActionError, match="unexpected multipathd"):
        ops_devices.multipath_maps(None)


def test_multipathd_end_to_end():
    if not os.path.exists("/dev/mapper/control") or shutil.which("multipathd") is None:
        pytest.skip("multipath end-to-end skipped: this kernel has no device-mapper "
                    "(no /dev/mapper/control) and multipathd cannot run here")
    maps = multipath.maps_from_answer(ops_devices.multipath_maps(None))
    assert all(m.wwid for m in maps)
