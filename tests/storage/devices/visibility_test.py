"""getDevicesVisibility on real loop devices: visible when the node exists
and is readable by the asking process."""

from __future__ import annotations

import os
import sys

from tests.storage.helpers import REPO, loop_device, need_root
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands
from vdsm.storage.devices import blockdev, visibility


@need_root
def test_listed_loop_is_visible_and_unknown_guids_are_not(tmp_path):
    with loop_device(32) as node:
        devices = blockdev.list_devices(include_loop=True)
        guid = next(d.guid for d in devices if d.devnode == node)
        resolve = visibility.listing_resolver(devices)
        assert visibility.devices_visibility(
            [guid, "36001405000000000000000000000dead", "../loop0", ""],
            resolve=resolve) == {
            guid: True, "36001405000000000000000000000dead": False,
            "../loop0": False, "": False}
    # a device whose node vanished (the name of a loop device is reused by
    # the next test at once, so the vanished node is a path that never was)
    gone = str(tmp_path / "dev-gone")
    assert visibility.devices_visibility([guid], resolve=lambda g: gone) == {
        guid: False}


def test_regular_file_is_not_a_visible_device(tmp_path):
    path = tmp_path / "not-a-lun"
    path.write_bytes(b"x")
    assert visibility.devices_visibility(["g"], resolve=lambda g: str(path)) == {
        "g": False}


@need_root
def test_unreadable_device_is_not_visible():
    """The agent runs as vdsm: a node only root may read is not visible to it."""
    user = ensure_vdsm_user()
    with loop_device(32) as node:
        st = os.stat(node)
        # root's alone, whatever an earlier user of this loop node left
        os.chown(node, 0, 0)
        os.chmod(node, 0o600)
        code = ("from vdsm.storage.devices import visibility as v; "
                f"print(v.devices_visibility(['x'], resolve=lambda g: {node!r}))")
        result = commands.run(["runuser", "-u", user, "--", sys.executable, "-c", code],
                              env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
        try:
            assert result.out.strip() == "{'x': False}"
            assert visibility.is_visible(node)  # root reads it
        finally:
            os.chown(node, st.st_uid, st.st_gid)
            os.chmod(node, st.st_mode & 0o7777)
