"""Ops on the agent's own directories: liveness, ownership, creation.

vdsmd runs as an unprivileged user but must own the directories it writes
(run, state and log directories, the storage repository). These ops let it
create and hand over such paths, and nothing outside them.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

from vdsm.common.errors import InvalidParameter
from vdsm.config import Config
from vdsm.supervdsm import confine
from vdsm.supervdsm.ops import OpContext, operation

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MODE_BITS = 0o2777  # permission bits and setgid; never setuid or sticky


def agent_dirs(config: Config) -> list[str]:
    """The directories whose contents these ops may change."""
    return [config.run_dir, config.state_dir, config.log_dir,
            config.repository]


def resolve_owner(user: str, group: str | None) -> tuple[int, int]:
    """(uid, gid) for a user name and optional group name.

    Without a group, the user's primary group. Raises InvalidParameter
    for an unknown user or group.
    """
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise InvalidParameter(f"no such user: {user!r}") from None
    if group is None:
        return pw.pw_uid, pw.pw_gid
    try:
        return pw.pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        raise InvalidParameter(f"no such group: {group!r}") from None


@operation
def ping(ctx: OpContext) -> dict[str, int]:
    """Prove supervdsmd is alive; return its pid and uid (0 when privileged)."""
    return {"pid": os.getpid(), "uid": os.getuid()}


@operation
def chown_path(ctx: OpContext, *, path: str, user: str,
               group: str | None = None) -> None:
    """Change the owner of an existing file or directory (not recursive).

    ``path`` must lie in the run, state, log or repository directory; no
    component below those may be a symlink, nor the path itself.
    """
    uid, gid = resolve_owner(user, group)
    root, parts = confine.split_confined(path, agent_dirs(ctx.config))
    if not parts:
        os.chown(root, uid, gid, follow_symlinks=False)
        return
    with confine.open_dir(root, parts[:-1]) as dir_fd:
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidParameter(f"{path} does not exist") from None
        if stat.S_ISLNK(st.st_mode):
            raise InvalidParameter(f"{path} is a symbolic link")
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


@operation
def mkdir_owned(ctx: OpContext, *, path: str, user: str,
                group: str | None = None, mode: int = 0o755) -> None:
    """Make sure a directory exists with the given owner and mode.

    Missing parents below the confining directory are created with the
    same owner and mode; existing parents are left alone. ``mode`` may
    hold permission bits and setgid only. Idempotent.
    """
    if mode < 0 or mode & ~_MODE_BITS:
        raise InvalidParameter(f"mode {mode:#o} is not allowed")
    uid, gid = resolve_owner(user, group)
    root, parts = confine.split_confined(path, agent_dirs(ctx.config))
    os.makedirs(root, mode=0o755, exist_ok=True)
    fd = os.open(root, _OPEN_DIR)
    try:
        for i, part in enumerate(parts):
            created = _mkdir_at(fd, part, mode)
            try:
                child = os.open(part, _OPEN_DIR, dir_fd=fd)
            except OSError as e:
                raise confine.walk_error(e, root, parts[:i + 1], fd) from None
            os.close(fd)
            fd = child
            if created:
                _set_owner_mode(fd, uid, gid, mode)
        _set_owner_mode(fd, uid, gid, mode)
    finally:
        os.close(fd)


def _mkdir_at(dir_fd: int, name: str, mode: int) -> bool:
    try:
        os.mkdir(name, mode, dir_fd=dir_fd)
    except FileExistsError:
        return False
    return True


def _set_owner_mode(fd: int, uid: int, gid: int, mode: int) -> None:
    os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)
