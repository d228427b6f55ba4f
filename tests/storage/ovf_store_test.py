"""The OVF store's files (vdsm/storage/ovf_store.py), without an agent:
layout, round trip, removal, bad entries, and a crash between the write
of the new OVF and its rename (a child killed there) leaving the old one.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vdsm.storage.errors import InvalidParameterException
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.ovf_store import OvfStore, parse_vm_list

VM1 = "11111111-aaaa-4bbb-8ccc-000000000001"
VM2 = "11111111-aaaa-4bbb-8ccc-000000000002"
OVF1 = '<?xml version="1.0"?>\n<ovf:Envelope>\u00e9t\u00e9 one</ovf:Envelope>\n'
OVF2 = "<ovf:Envelope>two</ovf:Envelope>"


@pytest.fixture
def store(tmp_path) -> OvfStore:
    master = tmp_path / "master"
    (master / "vms").mkdir(parents=True)
    return OvfStore(LocalFileOps(), str(master))


def test_round_trip_in_the_classic_layout(store):
    store.update([{"vm": VM1, "ovf": OVF1, "imglist": "a,b"},
                  {"vm": VM2, "ovf": OVF2, "imglist": ""}, {}])
    assert store.list() == [VM1, VM2]
    assert store.read() == {VM1: OVF1, VM2: OVF2}
    assert store.read([VM2, "not-stored"]) == {VM2: OVF2}
    with open(os.path.join(store.vms_dir, VM1, VM1 + ".ovf"), "rb") as f:
        assert f.read() == OVF1.encode()
    store.update([{"vm": VM1, "ovf": OVF2}])          # replaced
    assert store.read([VM1]) == {VM1: OVF2}
    store.remove(VM1)
    store.remove(VM1)                                  # not stored: no error
    assert store.list() == [VM2]
    assert not os.path.exists(os.path.join(store.vms_dir, VM1))


@pytest.mark.parametrize("entry", [{"ovf": "x"}, {"vm": VM1}, {"vm": "../x", "ovf": ""},
                                   {"vm": "..", "ovf": ""}, "text"])
def test_bad_entries_are_refused_before_anything_is_written(store, entry):
    with pytest.raises(InvalidParameterException):
        store.update([{"vm": VM2, "ovf": OVF2}, entry])
    assert store.list() == []


def test_imglist_is_split():
    assert parse_vm_list([{"vm": VM1, "ovf": "", "imglist": "a,b,"}]) == [
        (VM1, "", ["a", "b"])]


CRASH = """
import os, sys
from vdsm.storage.io import file_operations
from vdsm.storage.ovf_store import OvfStore
def crash(src, dst):
    os._exit(9)   # killed after the new OVF was written and synced, before the rename
file_operations.os.rename = crash
OvfStore(file_operations.LocalFileOps(), sys.argv[1]).update(
    [{"vm": sys.argv[2], "ovf": "NEW"}])
"""


def test_a_crash_before_the_rename_leaves_the_old_ovf(store):
    store.update([{"vm": VM1, "ovf": OVF1}])
    master = os.path.dirname(store.vms_dir)
    res = subprocess.run([sys.executable, "-c", CRASH, master, VM1],
                         capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert res.returncode == 9, res.stderr
    vm_dir = os.path.join(store.vms_dir, VM1)
    left = [n for n in os.listdir(vm_dir) if n != VM1 + ".ovf"]
    assert len(left) == 1 and left[0].endswith(".tmp")   # the new one, never renamed
    assert store.read() == {VM1: OVF1}
    assert store.list() == [VM1]
    store.update([{"vm": VM1, "ovf": OVF2}])            # the next write works
    assert store.read() == {VM1: OVF2}
