"""NFS: mount options as the classic agent builds them, the NFS connection,
and the end-to-end mount (skipped where the kernel has no NFS client)."""

from __future__ import annotations

import os

import pytest

from tests.storage.helpers import HERE
from vdsm.common.errors import InvalidParameter
from vdsm.storage import constants as sc
from vdsm.storage.connections import mounts, nfs
from vdsm.storage.connections.base import ConnectionParams
from vdsm.storage.connections.registry import ConnectionRegistry

DATA = os.path.join(HERE, "data")


@pytest.mark.parametrize("version,expected", [
    (None, "soft,nosharecache,timeo=100,retrans=3,nolock"),
    ("auto", "soft,nosharecache,timeo=100,retrans=3,nolock"),
    ("3", "soft,nosharecache,timeo=100,retrans=3,nfsvers=3,nolock"),
    ("4", "soft,nosharecache,timeo=100,retrans=3,nfsvers=4"),
    ("4.1", "soft,nosharecache,timeo=100,retrans=3,nfsvers=4,minorversion=1"),
])
def test_classic_nfs_options(version, expected):
    assert nfs.mount_options(version=version) == expected


def test_timeouts_and_extra_options():
    assert nfs.mount_options(version="3", timeo=600, retrans=6, extra="lock,sec=sys") \
        == "soft,nosharecache,timeo=600,retrans=6,nfsvers=3,lock,sec=sys"
    with pytest.raises(InvalidParameter):
        nfs.mount_options(version="5")
    with pytest.raises(InvalidParameter):
        nfs.mount_options(version="4.x")


def test_mount_directory_name_uses_classic_escaping():
    assert mounts.transform_path("server:/export/data_1") == "server:_export_data__1"
    assert mounts.normalize_remote("server:/export//data/") == "server:/export/data"
    assert mounts.transform_path(mounts.normalize_remote("/dev/loop0")) == "_dev_loop0"


def test_negotiated_version_from_mountinfo():
    text = (
        "101 27 0:52 / /rhev/data-center/mnt/srv:_exp rw,relatime shared:60 - nfs4 "
        "srv:/exp rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,soft,proto=tcp,"
        "timeo=100,retrans=3,sec=sys,clientaddr=10.0.0.2,local_lock=none,addr=10.0.0.1\n"
        "102 27 0:53 / /rhev/data-center/mnt/old:_exp rw,relatime - nfs old:/exp "
        "rw,vers=3,soft,nolock,proto=tcp,timeo=100,retrans=3\n")
    records = mounts.parse_mountinfo(text)
    assert [r.mountpoint for r in records] == ["/rhev/data-center/mnt/srv:_exp",
                                               "/rhev/data-center/mnt/old:_exp"]
    assert [nfs.negotiated_version(r) for r in records] == ["4.2", "3"]
    assert records[0].source == "srv:/exp" and records[0].fstype == "nfs4"


def test_real_mountinfo_parses():
    records = mounts.mount_records()
    assert any(r.mountpoint == "/" for r in records)


def test_nfs_connection_mounts_with_the_classic_options(local_ctx):
    calls = []

    class Recorder:
        def call(self, op, **args):
            calls.append((op, args))

    local_ctx.supervdsm = Recorder()
    registry = ConnectionRegistry(local_ctx)
    con = {"id": "c1", "connection": "srv:/exp//data/", "protocol_version": "4.1",
           "timeout": "600", "retrans": 6}
    assert registry.connect(sc.NFS_DOMAIN, [con]) == [("c1", None)]
    op, args = calls[0]
    assert op == "mount" and args["vfs_type"] == "nfs"
    assert args["spec"] == "srv:/exp/data"
    assert args["options"] == ("soft,nosharecache,timeo=600,retrans=6,nfsvers=4,"
                               "minorversion=1")
    assert args["target"] == os.path.join(local_ctx.mount_root, "srv:_exp_data")
    assert ConnectionParams.from_wire(con).public()["password"] == ""


def test_recorded_mount_nfs_failures_are_clear():
    """What mount.nfs said on this kind of machine (recorded): no NFSv4 in
    the kernel, and no server for NFSv3."""
    with open(os.path.join(DATA, "mount_nfs4_unsupported.err")) as f:
        assert f.read().strip() == "mount.nfs: No such device"
    with open(os.path.join(DATA, "mount_nfs3_refused.err")) as f:
        assert f.read().strip() == "mount.nfs: Connection refused"


def kernel_has_nfs() -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] in ("nfs", "nfs4") for line in f if line.strip())


@pytest.mark.skipif(not kernel_has_nfs(),
                    reason="end-to-end NFS mount skipped: this kernel has no NFS "
                    "client (no nfs/nfs4 in /proc/filesystems)")
def test_nfs_mount_end_to_end():  # pragma: no cover - needs an NFS kernel
    pytest.skip("an NFS server export is not available in CI")
