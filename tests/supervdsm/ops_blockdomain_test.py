"""ops_blockdomain: mkfs and mount of a block domain's master LV, run as
supervdsmd runs an op (its argument checks, then the function), on a real
file standing in for the LV (``lv_activation`` off) and a real mount."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm import config as vdsm_config
from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm import ops
from vdsm.supervdsm.errors import MountError
from vdsm.supervdsm.ops import OpContext, Peer
from vdsm.supervdsm.ops_mount import mount_points

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mkfs and mount need root")


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    root = tempfile.mkdtemp(prefix="svdsm-blk-", dir="/var/tmp")
    os.chmod(root, 0o755)
    config = vdsm_config.Config(vdsm_config.rooted(root))
    config.set("irs", "lv_dir", os.path.join(root, "dev"))
    config.set("irs", "lv_activation", False)
    os.makedirs(config.mount_root)
    vg = str(uuid.uuid4())
    lv = os.path.join(root, "dev", vg, "master")
    os.makedirs(os.path.dirname(lv))
    with open(lv, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    try:
        yield {"config": config, "vg": vg, "lv": lv,
               "target": os.path.join(config.mount_root, "blockSD", vg, "master")}
    finally:
        for target in sorted((m for m in mount_points() if m.startswith(root + "/")),
                             reverse=True):
            commands.run(["umount", "-l", target], timeout=30, check=False)
        shutil.rmtree(root)


def call(world: dict[str, Any], op: str, *, uid: int = 0, **args: Any) -> Any:
    operation = ops.load()[op]
    ops.validate(operation, args)
    ctx = OpContext(world["config"], Peer(os.getpid(), uid, uid))
    return operation.func(ctx, **args)


def test_mkfs_and_mount_the_master_owned_by_the_caller(world):
    vdsm = pwd.getpwnam(ensure_vdsm_user()).pw_uid
    call(world, "mkfs_master", uid=vdsm, vg=world["vg"])
    fs = commands.run(["blkid", "-p", "-o", "value", "-s", "TYPE", world["lv"]],
                      timeout=30).out.strip()
    assert fs == "ext4"
    with pytest.raises(InvalidParameter, match="does not exist|No such"):
        call(world, "mount_master", vg=world["vg"])      # its directory first
    os.makedirs(world["target"])
    call(world, "mount_master", vg=world["vg"])
    assert world["target"] in mount_points()
    assert os.stat(world["target"]).st_uid == vdsm
    with pytest.raises(MountError, match="already a mount point"):
        call(world, "mount_master", vg=world["vg"])
    call(world, "umount", target=world["target"])
    assert world["target"] not in mount_points()


def test_only_a_domain_vgs_master_lv_is_accepted(world):
    for bad in ("../../etc", "vg", "", world["vg"] + "/x", world["vg"].upper()):
        for op in ("mkfs_master", "mount_master"):
            with pytest.raises(InvalidParameter, match="not a storage domain VG"):
                call(world, op, vg=bad)
    missing = str(uuid.uuid4())
    with pytest.raises(InvalidParameter, match="cannot use"):
        call(world, "mkfs_master", vg=missing)
    with pytest.raises(InvalidParameter, match="timeout"):
        call(world, "mkfs_master", vg=world["vg"], timeout=0.5)
    # a file is not an LV where LVs are activated (real hosts)
    world["config"].set("irs", "lv_activation", True)
    for op in ("mkfs_master", "mount_master"):
        with pytest.raises(InvalidParameter, match="not a block device"):
            call(world, op, vg=world["vg"])
    assert commands.run(["blkid", "-p", world["lv"]], timeout=30,
                        check=False).out == ""      # left untouched
