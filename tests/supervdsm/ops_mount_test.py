"""mount/umount through a real supervdsmd: tmpfs and loop-backed ext4."""

from __future__ import annotations

import os
import shutil

import pytest

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm.errors import MountError, MountTypeError
from vdsm.supervdsm.ops_mount import _check_options, mount_points


@pytest.fixture
def mnt(supervdsmd, client) -> str:
    """An empty directory below the mount root, made through supervdsm."""
    target = os.path.join(supervdsmd.config.mount_root, "server:_export")
    client.call("mkdir_owned", path=target, user="vdsm", mode=0o755)
    return target


def test_tmpfs_mount_and_umount(client, mnt):
    client.call("mount", spec="tmpfs", target=mnt, vfs_type="tmpfs",
                options="size=1m,mode=0755")
    assert mnt in mount_points()
    with open(os.path.join(mnt, "probe"), "w") as f:
        f.write("on tmpfs")
    options = _mount_options(mnt)
    assert {"nosuid", "nodev"} <= options
    with pytest.raises(MountError, match="already a mount point"):
        client.call("mount", spec="tmpfs", target=mnt, vfs_type="tmpfs")
    client.call("umount", target=mnt)
    assert mnt not in mount_points()
    assert not os.path.exists(os.path.join(mnt, "probe"))
    with pytest.raises(MountError, match="not mounted"):
        client.call("umount", target=mnt)


def test_lazy_forced_umount(client, mnt):
    client.call("mount", spec="tmpfs", target=mnt, vfs_type="tmpfs")
    client.call("umount", target=mnt, force=True, lazy=True)
    assert mnt not in mount_points()


def test_targets_outside_mount_root_refused(client, supervdsmd, agent_root, mnt):
    outside = os.path.join(agent_root, "elsewhere")
    os.mkdir(outside)
    link = os.path.join(supervdsmd.config.mount_root, "link")
    os.symlink(outside, link)
    for target, text in ((outside, "outside"), ("/mnt", "outside"),
                         (supervdsmd.config.run_dir, "outside"),
                         (supervdsmd.config.mount_root, "mount root itself"),
                         (mnt + "/../../x", "'..'"), (link, "symbolic link"),
                         (mnt + "/missing", "does not exist")):
        with pytest.raises(InvalidParameter, match=text):
            client.call("mount", spec="tmpfs", target=target, vfs_type="tmpfs")
    with pytest.raises(InvalidParameter, match="outside"):
        client.call("umount", target="/proc")
    assert not {outside, "/mnt", link} & mount_points()


@pytest.mark.parametrize("vfs_type", ["proc", "sysfs", "overlay", "bind", ""])
def test_vfs_type_allowlist(client, mnt, vfs_type):
    with pytest.raises(MountTypeError) as e:
        client.call("mount", spec="none", target=mnt, vfs_type=vfs_type)
    assert e.value.name == "MountTypeError"


@pytest.mark.parametrize("spec, vfs_type", [
    ("-oremount", "tmpfs"), ("a b", "tmpfs"), ("/etc/passwd", "ext4"),
    ("/dev/../etc/passwd", "xfs"), ("/dev/null", "ext4"),
    ("server:/export;rm", "nfs"), ("--bind", "nfs"),
])
def test_bad_spec_refused(client, mnt, spec, vfs_type):
    with pytest.raises(InvalidParameter):
        client.call("mount", spec=spec, target=mnt, vfs_type=vfs_type)


@pytest.mark.parametrize("options", [
    "X-mount.mkdir", "x-systemd.automount", "helper=foo", "suid", "dev",
    "user", "loop", "size=1m,uhelper=x", "a b", "mode=0755;rm",
])
def test_bad_options_refused(client, mnt, options):
    with pytest.raises(InvalidParameter, match="option"):
        client.call("mount", spec="tmpfs", target=mnt, vfs_type="tmpfs",
                    options=options)
    assert mnt not in mount_points()


def test_option_normalization():
    assert _check_options(None) == ["nosuid", "nodev"]
    assert _check_options("ro,,nosuid,vers=4.2") == ["ro", "nosuid", "vers=4.2",
                                                     "nodev"]


def test_bad_timeout_refused(client, mnt):
    for timeout in (0, 601, -1):
        with pytest.raises(InvalidParameter, match="timeout"):
            client.call("mount", spec="tmpfs", target=mnt, vfs_type="tmpfs",
                        timeout=timeout)


def test_failing_mount_is_mount_error(client, mnt):
    # A valid-looking NFS spec with an unresolvable server; the kernel NFS
    # client may also be missing: either way mount(8) fails.
    with pytest.raises(MountError, match="failed"):
        client.call("mount", spec="no-such-host.invalid:/export", target=mnt,
                    vfs_type="nfs", options="soft,timeo=1,retrans=0", timeout=20)
    assert mnt not in mount_points()


@pytest.fixture
def loop_ext4(agent_root):
    for tool in ("losetup", "mkfs.ext4"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    image = os.path.join(agent_root, "disk.img")
    with open(image, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    commands.run(["mkfs.ext4", "-q", "-F", image], timeout=60)
    try:
        device = commands.run(["losetup", "-f", "--show", image],
                              timeout=30).out.strip()
    except commands.CommandError as e:
        pytest.skip(f"no loop devices here: {e}")
    yield device
    commands.run(["losetup", "-d", device], timeout=30, check=False)


def test_ext4_on_loop_device(client, mnt, loop_ext4):
    client.call("mount", spec=loop_ext4, target=mnt, vfs_type="ext4",
                options="noatime")
    try:
        assert mnt in mount_points()
        assert os.path.isdir(os.path.join(mnt, "lost+found"))
    finally:
        client.call("umount", target=mnt)
    assert mnt not in mount_points()


def _mount_options(target: str) -> set[str]:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return set(fields[5].split(","))
    raise AssertionError(f"{target} not mounted")
