"""trim_image's refusals (in process): only a regular file below the
storage mount root, no symlink on the way; the trim itself is tested end
to end in tests/storage/ovf_agent_test.py and tests/virt/sparsify_guest_test.py."""

from __future__ import annotations

import os

import pytest

from vdsm import config as vdsm_config
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm import ops
from vdsm.supervdsm.ops_sparsify import trim_image


@pytest.fixture
def ctx(tmp_path) -> ops.OpContext:
    config = vdsm_config.Config(vdsm_config.rooted(str(tmp_path)))
    os.makedirs(os.path.join(config.mount_root, "dom", "images"))
    return ops.OpContext(config=config, peer=ops.Peer(pid=1, uid=0, gid=0))


def test_outside_the_mount_root_is_refused(ctx, tmp_path):
    outside = tmp_path / "disk.img"
    outside.write_bytes(b"x")
    with pytest.raises(InvalidParameter, match="outside"):
        trim_image(ctx, path=str(outside))


def test_a_symlink_or_a_directory_is_refused(ctx):
    images = os.path.join(ctx.config.mount_root, "dom", "images")
    os.symlink("/etc", os.path.join(ctx.config.mount_root, "dom", "link"))
    with pytest.raises(InvalidParameter, match="symbolic link"):
        trim_image(ctx, path=os.path.join(ctx.config.mount_root, "dom", "link", "x"))
    with pytest.raises(InvalidParameter, match="not a regular file"):
        trim_image(ctx, path=images)
    with pytest.raises(InvalidParameter, match="does not exist"):
        trim_image(ctx, path=os.path.join(images, "missing"))
