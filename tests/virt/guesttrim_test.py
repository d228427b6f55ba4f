"""Which device holds a volume (vdsm.virt.guesttrim.uses): pure; the
trim itself is proven on a real guest in sparsify_attached_test.py."""

from __future__ import annotations

import os

from vdsm.virt.guesttrim import uses


def test_disk_by_path_resolved(tmp_path):
    img = tmp_path / "vol"
    img.write_bytes(b"")
    link = tmp_path / "link"
    os.symlink(img, link)
    disk = {"type": "disk", "device": "disk", "path": str(link)}
    assert uses(disk, os.path.realpath(img), "other")
    assert not uses(disk, str(tmp_path / "else"), "other")


def test_disk_by_volume_id():
    disk = {"type": "disk", "device": "disk", "path": "", "volumeID": "v1"}
    assert uses(disk, "/x", "v1")
    assert not uses(disk, "/x", "v2")


def test_cdrom_and_nic_never_hold_a_volume():
    assert not uses({"type": "disk", "device": "cdrom", "path": "/x"}, "/x", "")
    assert not uses({"type": "interface", "path": "/x"}, "/x", "")
