"""Giving up root for good.

vdsmd starts as root only to bind its sockets; it then becomes the vdsm
user and asks supervdsmd for anything privileged. :func:`drop_privileges`
makes the switch irreversible: real, effective and saved ids all change,
no capability is kept, and the result is verified.
"""

from __future__ import annotations

import ctypes
import grp
import logging
import os
import pwd

from vdsm.common.errors import VdsmError

log = logging.getLogger(__name__)

# Groups that own the devices and sockets a virtualization agent uses.
EXTRA_GROUPS = ("kvm", "libvirt", "libvirt-qemu", "qemu")

_PR_SET_DUMPABLE = 4


class PrivilegeError(VdsmError):
    """Switching to the unprivileged user failed or was not complete."""

    name = "GeneralException"
    default_message = "Cannot drop privileges"


def ensure_user(user: str) -> bool:
    """Whether ``user`` exists (so a caller can warn or refuse early)."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def user_groups(user: str) -> list[int]:
    """The gids ``user`` runs with: its own groups plus the existing EXTRA_GROUPS."""
    pw = pwd.getpwnam(user)
    gids = set(os.getgrouplist(user, pw.pw_gid))
    for name in EXTRA_GROUPS:
        try:
            gids.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return sorted(gids)


def drop_privileges(user: str) -> None:
    """Become ``user`` irreversibly; set HOME, USER and LOGNAME.

    Call it once, early, before worker threads start (glibc switches every
    thread, but nothing should be working as root meanwhile). A process
    that already runs as ``user`` only gets its environment set. Raises
    PrivilegeError when the user does not exist, the caller is neither
    root nor ``user``, or root could be regained afterwards.
    """
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"user {user!r} does not exist") from None
    if os.getresuid() == (pw.pw_uid,) * 3:
        log.debug("already running as %s", user)
        _set_environment(pw)
        return
    if os.geteuid() != 0:
        raise PrivilegeError(
            f"cannot become {user!r}: running as uid {os.geteuid()}, not root")
    gids = user_groups(user)
    try:
        os.setgroups(gids)
        os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
        os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    except OSError as e:
        raise PrivilegeError(f"cannot become {user!r}: {e}") from None
    _verify(pw)
    _set_dumpable()
    _set_environment(pw)
    log.info("running as %s (uid=%s gid=%s groups=%s)", user, pw.pw_uid,
             pw.pw_gid, gids)


def _verify(pw: pwd.struct_passwd) -> None:
    """Prove the switch is complete and cannot be undone."""
    if os.getresuid() != (pw.pw_uid,) * 3 or os.getresgid() != (pw.pw_gid,) * 3:
        raise PrivilegeError(f"ids not switched: uid={os.getresuid()} "
                             f"gid={os.getresgid()}")
    if pw.pw_uid != 0:
        for regain in (os.setuid, os.seteuid):
            try:
                regain(0)
            except PermissionError:
                continue
            raise PrivilegeError("root could be regained after dropping it")
    for field, value in _capabilities().items():
        if pw.pw_uid != 0 and value != 0:
            raise PrivilegeError(f"capabilities kept: {field}={value:#x}")


def _capabilities() -> dict[str, int]:
    caps = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapPrm", "CapEff", "CapAmb"):
                caps[key] = int(value.strip(), 16)
    return caps


def _set_dumpable() -> None:
    """Changing ids clears the dumpable flag, making /proc/self root-owned;
    restore it so the agent can read its own /proc entries like any
    process started as that user."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_DUMPABLE) failed: %s",
                    os.strerror(ctypes.get_errno()))


def _set_environment(pw: pwd.struct_passwd) -> None:
    os.environ["HOME"] = pw.pw_dir
    os.environ["USER"] = pw.pw_name
    os.environ["LOGNAME"] = pw.pw_name
