"""ping, chown_path, mkdir_owned and the path confinement (in process, as root)."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from vdsm import config as vdsm_config
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm import ops
from vdsm.supervdsm.ops_files import chown_path, mkdir_owned, ping

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def ctx(vdsm_user, tmp_path) -> ops.OpContext:
    config = vdsm_config.Config(vdsm_config.rooted(str(tmp_path)))
    os.makedirs(config.run_dir)
    return ops.OpContext(config=config, peer=ops.Peer(pid=1, uid=0, gid=0))


def owner(path: str) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_ping(ctx):
    assert ping(ctx) == {"pid": os.getpid(), "uid": 0}


def test_mkdir_owned_creates_parents_with_owner_and_mode(ctx):
    path = os.path.join(ctx.config.state_dir, "a", "b")
    mkdir_owned(ctx, path=path, user="nobody", mode=0o750)
    for p in (ctx.config.state_dir + "/a", path):
        assert owner(p) == (NOBODY.pw_uid, NOBODY.pw_gid, 0o750)
    # The confining directory itself was created root-owned.
    assert owner(ctx.config.state_dir)[:2] == (0, 0)


def test_mkdir_owned_is_idempotent_and_fixes_the_last_dir_only(ctx):
    parent = os.path.join(ctx.config.run_dir, "p")
    os.mkdir(parent, 0o700)
    path = os.path.join(parent, "c")
    mkdir_owned(ctx, path=path, user="root")
    mkdir_owned(ctx, path=path, user="vdsm", group="root", mode=0o2770)
    assert owner(path) == (pwd.getpwnam("vdsm").pw_uid, 0, 0o2770)
    assert owner(parent) == (0, 0, 0o700)


def test_mkdir_owned_of_a_confining_dir(ctx):
    mkdir_owned(ctx, path=ctx.config.log_dir, user="nobody", mode=0o755)
    assert owner(ctx.config.log_dir)[0] == NOBODY.pw_uid


def test_chown_path(ctx):
    path = os.path.join(ctx.config.run_dir, "file")
    open(path, "w").close()
    chown_path(ctx, path=path, user="nobody")
    assert owner(path)[:2] == (NOBODY.pw_uid, NOBODY.pw_gid)
    chown_path(ctx, path=path, user="nobody", group="root")
    assert owner(path)[:2] == (NOBODY.pw_uid, 0)


@pytest.mark.parametrize("path", [
    "/etc/passwd", "/etc", "relative/path", "/", "{run}/../../etc",
    "{run}/./x", "{run}x",
])
def test_paths_outside_confinement_refused(ctx, path):
    path = path.format(run=ctx.config.run_dir)
    with pytest.raises(InvalidParameter):
        chown_path(ctx, path=path, user="nobody")
    with pytest.raises(InvalidParameter):
        mkdir_owned(ctx, path=path, user="nobody")


def test_symlink_inside_confinement_not_followed(ctx, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("x")
    link = os.path.join(ctx.config.run_dir, "link")
    os.symlink(outside, link)
    with pytest.raises(InvalidParameter, match="symbolic link"):
        chown_path(ctx, path=link + "/victim", user="nobody")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        chown_path(ctx, path=link, user="nobody")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        mkdir_owned(ctx, path=link + "/new", user="nobody")
    assert owner(str(outside / "victim"))[0] == 0
    assert not (outside / "new").exists()


def test_bad_owner_and_mode_refused(ctx):
    path = os.path.join(ctx.config.run_dir, "d")
    with pytest.raises(InvalidParameter, match="no such user"):
        mkdir_owned(ctx, path=path, user="no-such-user-xyz")
    with pytest.raises(InvalidParameter, match="no such group"):
        mkdir_owned(ctx, path=path, user="root", group="no-such-group-xyz")
    for mode in (0o4755, 0o1777, -1, 0o10000):
        with pytest.raises(InvalidParameter, match="mode"):
            mkdir_owned(ctx, path=path, user="root", mode=mode)
    assert not os.path.exists(path)


def test_chown_missing_path(ctx):
    with pytest.raises(InvalidParameter, match="does not exist"):
        chown_path(ctx, path=ctx.config.run_dir + "/missing", user="root")
    with pytest.raises(InvalidParameter, match="does not exist"):
        chown_path(ctx, path=ctx.config.run_dir + "/missing/x", user="root")
