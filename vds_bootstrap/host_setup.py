"""The vdsm account, the agent's directories and the host UUID file.

Ownership follows the classic agent: run, state, log and storage
directories belong to the vdsm user (the daemon writes there after
dropping root); the hooks tree stays root's, since hooks are code.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
import uuid
from dataclasses import dataclass

from vds_bootstrap import accounts, classic_ids, report
from vds_bootstrap.report import StepResult
from vdsm.common import commands, hookpoints
from vdsm.config import Config

log = logging.getLogger(__name__)

VDSM_HOME = "/var/lib/vdsm"
# Supplementary groups of the vdsm user, each only if the host has it
# (sanlock: the socket of the distribution's sanlock service).
KVM_GROUP = "kvm"
VDSM_GROUPS = (KVM_GROUP, "libvirt", "libvirt-qemu", "qemu", "sanlock")
DMI_UUID = "/sys/class/dmi/id/product_uuid"
_UNSET_UUIDS = {"00000000-0000-0000-0000-000000000000",
                "ffffffff-ffff-ffff-ffff-ffffffffffff"}

# One directory per hook point, where administrators drop scripts.
HOOK_POINTS = tuple(sorted(hookpoints.POINTS))


@dataclass(frozen=True)
class Account:
    uid: int
    gid: int


def lookup_account(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_uid, entry.pw_gid)


def ensure_vdsm_user(name: str, *, root: str = "/") -> StepResult:
    """The system user vdsmd drops to, in kvm/libvirt groups where present;
    vdsm and kvm get the classic id 36 where it is free (else a WARN step
    naming who holds it). ``root``: where /etc/passwd and /etc/group are."""
    if os.geteuid() != 0:
        if accounts.user_exists(name):
            return report.ok("USER", f"user {name} exists (not root: not checked)")
        return report.fail("USER", f"user {name} missing; run as root to create it")
    try:
        # kvm is the classic agent's group for /dev/kvm and disk images.
        kvm = classic_ids.choose_on(root, classic_ids.GROUP, KVM_GROUP)
        changed = accounts.ensure_group(KVM_GROUP, gid=kvm.request)
        user = classic_ids.choose_on(root, classic_ids.USER, name)
        groups = [g for g in VDSM_GROUPS if accounts.group_exists(g)]
        changed |= accounts.ensure_user(name, home=VDSM_HOME, groups=groups,
                                        comment="Node Virtualization Manager",
                                        uid=user.request)
    except (commands.CommandError, OSError) as e:
        return report.fail("USER", f"cannot set up user {name}: {e}")
    member = ", ".join(sorted(accounts.user_groups(name)))
    what = "set up" if changed else "already set up"
    message = f"user {name} {what} (groups: {member})"
    warnings = [w for w in (kvm.warning, user.warning) if w]
    for warning in warnings:
        log.warning("%s", warning)
    if warnings:
        return report.warn("USER", "; ".join([message, *warnings]),
                           changed=changed)
    return report.ok("USER", message, changed=changed)


def agent_dirs(cfg: Config) -> list[tuple[str, bool]]:
    """(path, owned by the vdsm user) for every directory the agent uses."""
    dirs = [(cfg.run_dir, True), (cfg.state_dir, True), (cfg.log_dir, True),
            (cfg.hooks_dir, False)]
    dirs += [(os.path.join(cfg.hooks_dir, p), False) for p in HOOK_POINTS]
    dirs += [(cfg.repository, True), (cfg.mount_root, True)]
    socket_dir = os.path.dirname(cfg.supervdsm_socket)
    if socket_dir not in (cfg.run_dir, cfg.state_dir):
        dirs.append((socket_dir, False))
    return dirs


def ensure_dir(path: str, *, mode: int, owner: Account | None) -> bool:
    """mkdir, chmod, chown as needed; True when anything changed."""
    changed = False
    if not os.path.isdir(path):
        os.makedirs(path, mode=mode)
        changed = True
    st = os.stat(path)
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
        changed = True
    if owner and (st.st_uid, st.st_gid) != (owner.uid, owner.gid):
        os.chown(path, owner.uid, owner.gid)
        changed = True
    return changed


def unreachable(path: str, account: Account) -> str | None:
    """The first ancestor of ``path`` the account cannot traverse, if any."""
    groups = set(os.getgrouplist(pwd.getpwuid(account.uid).pw_name, account.gid))
    current = os.path.dirname(os.path.abspath(path))
    while True:
        st = os.stat(current)
        if st.st_uid == account.uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return current
        if current == "/":
            return None
        current = os.path.dirname(current)


def ensure_dirs(cfg: Config, user: str) -> StepResult:
    account = lookup_account(user)
    changed = []
    try:
        for path, vdsm_owned in agent_dirs(cfg):
            owner = account if vdsm_owned else Account(0, 0)
            if os.geteuid() != 0:
                owner = None
            if ensure_dir(path, mode=0o755, owner=owner):
                changed.append(path)
    except OSError as e:
        return report.fail("DIRS", f"{e.filename}: {e.strerror}",
                           changed=bool(changed))
    count = len(agent_dirs(cfg))
    text = (f"created or fixed {len(changed)} of {count} directories"
            if changed else f"all {count} directories in place")
    if account is None:
        return report.warn("DIRS", f"{text}; user {user} missing, owned by root",
                           changed=bool(changed))
    blocked = unreachable(cfg.run_dir, account)
    if blocked:
        return report.warn("DIRS", f"{text}; user {user} cannot enter {blocked}",
                           changed=bool(changed))
    return report.ok("DIRS", text, changed=bool(changed))


def _hardware_uuid() -> str | None:
    try:
        with open(DMI_UUID) as f:
            value = str(uuid.UUID(f.read().strip()))
    except (OSError, ValueError):
        return None
    # Boards with unset DMI data report all zeros or all ones.
    return None if value in _UNSET_UUIDS else value


def ensure_host_uuid(path: str, *, system: bool) -> StepResult:
    """The host's identity for the engine, made once and never changed.

    The system host takes the hardware UUID when DMI has one; a host under
    another root always gets a random one, so hosts sharing a machine differ.
    """
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        text = None
    except OSError as e:
        return report.fail("UUID", f"cannot read {path}: {e.strerror}")
    if text is not None:
        try:
            return report.ok("UUID", f"host uuid {uuid.UUID(text)} ({path})")
        except ValueError:
            return report.fail("UUID", f"{path} holds no UUID: {text[:40]!r}")
    value = (_hardware_uuid() if system else None) or str(uuid.uuid4())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        return report.fail("UUID", f"cannot write {path}: {e.strerror}")
    return report.ok("UUID", f"created host uuid {value} ({path})", changed=True)
