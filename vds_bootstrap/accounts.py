"""System users and groups, created with the distribution's own tools.

Every function is idempotent and says whether it changed anything. A
concurrent creation by someone else (useradd exits "already exists") is
not an error: the account is looked up again afterwards.
"""

from __future__ import annotations

import grp
import logging
import pwd
import shutil
from typing import Sequence

from vdsm.common import commands

log = logging.getLogger(__name__)

SBIN_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"


def nologin_shell() -> str:
    return shutil.which("nologin", path=SBIN_PATH) or "/sbin/nologin"


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def groupadd_argv(name: str, *, gid: int | None = None) -> list[str]:
    argv = ["groupadd", "--system"]
    if gid is not None:
        argv += ["--gid", str(gid)]
    return argv + [name]


def ensure_group(name: str, *, gid: int | None = None) -> bool:
    """Create a system group unless it exists (with ``gid`` if given, else
    the system's choice). Returns True when created.

    Raises CommandError when groupadd fails and the group still is missing.
    """
    if group_exists(name):
        return False
    try:
        commands.run(groupadd_argv(name, gid=gid), timeout=30)
    except commands.CommandError:
        if group_exists(name):
            return False
        raise
    log.info("created group %s", name)
    return True


def user_groups(name: str) -> set[str]:
    """Names of every group the user belongs to, primary included."""
    primary = pwd.getpwnam(name).pw_gid
    return {g.gr_name for g in grp.getgrall()
            if g.gr_gid == primary or name in g.gr_mem}


def useradd_argv(name: str, *, home: str, shell: str, groups: Sequence[str] = (),
                 comment: str = "", uid: int | None = None) -> list[str]:
    argv = ["useradd", "--system", "--user-group", "--no-create-home",
            "--home-dir", home, "--shell", shell]
    if uid is not None:
        argv += ["--uid", str(uid)]
    if comment:
        argv += ["--comment", comment]
    if groups:
        argv += ["--groups", ",".join(groups)]
    return argv + [name]


def ensure_user(name: str, *, home: str, groups: Sequence[str] = (),
                comment: str = "", uid: int | None = None) -> bool:
    """A system user with its own group, no login shell, in ``groups``
    (with ``uid`` if given, else the system's choice).

    An existing user is left as it is except that missing ``groups`` are
    added. Returns True when anything changed. Raises CommandError.
    """
    changed = False
    if not user_exists(name):
        argv = useradd_argv(name, home=home, shell=nologin_shell(),
                            groups=groups, comment=comment, uid=uid)
        try:
            commands.run(argv, timeout=30)
            log.info("created user %s", name)
            changed = True
        except commands.CommandError:
            if not user_exists(name):
                raise
    missing = sorted(set(groups) - user_groups(name))
    if missing:
        commands.run(["usermod", "--append", "--groups", ",".join(missing),
                      name], timeout=30)
        log.info("added user %s to groups %s", name, ", ".join(missing))
        changed = True
    return changed
