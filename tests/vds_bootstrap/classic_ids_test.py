"""The classic ids (vdsm uid 36, kvm gid 36): the decision on passwd and
group texts (free, taken, already 36, account exists with another id), the
useradd/groupadd arguments, and the bootstrap step's warning on a temporary
root. This machine's own vdsm/kvm (995/994) are never changed."""

from __future__ import annotations

import os
import pwd

import pytest

from vds_bootstrap import accounts, classic_ids, host_setup
from vds_bootstrap.classic_ids import GROUP, USER, choose

PASSWD = """root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
"""
GROUPS = "root:x:0:\nkvm:x:994:libvirt-qemu\n"


def test_free_36_is_asked_for():
    choice = choose(USER, "vdsm", PASSWD)
    assert (choice.request, choice.existing, choice.holder) == (36, None, None)
    assert choice.warning is None
    assert choose(GROUP, "kvm", "root:x:0:\n").request == 36


def test_taken_36_leaves_the_choice_to_the_system_and_names_the_holder():
    choice = choose(USER, "vdsm", PASSWD + "nfsnobody:x:36:36::/:/bin/false\n")
    assert (choice.request, choice.holder) == (None, "nfsnobody")
    assert choice.warning == (
        "user vdsm gets a system-chosen uid, not the classic uid 36 (uid 36 "
        "is held by user 'nfsnobody'); since it is taken. NFS exports set up "
        "for oVirt (anonuid=36) and storage owned 36:36 need this host's uid "
        "instead")
    group = choose(GROUP, "kvm", "root:x:0:\nbackup:x:36:\n")
    assert group.request is None and "gid 36 is held by group 'backup'" in group.warning


def test_account_already_36_is_left_alone_without_warning():
    choice = choose(USER, "vdsm", PASSWD + "vdsm:x:36:36::/var/lib/vdsm:/bin/false\n")
    assert (choice.request, choice.existing, choice.warning) == (None, 36, None)


def test_existing_account_with_another_id_is_kept_with_a_warning():
    choice = choose(GROUP, "kvm", GROUPS)
    assert (choice.request, choice.existing) == (None, 994)
    assert choice.warning.startswith(
        "group kvm exists with gid 994, not the classic gid 36 (gid 36 is free); "
        "kept (files may already belong to it).")


def test_malformed_lines_are_skipped():
    assert classic_ids.parse_ids("bad\nx:y:notanumber:\nok:x:7:\n") == {"ok": 7}


def test_add_commands_carry_the_chosen_ids():
    assert accounts.groupadd_argv("kvm", gid=36) == [
        "groupadd", "--system", "--gid", "36", "kvm"]
    assert accounts.groupadd_argv("kvm") == ["groupadd", "--system", "kvm"]
    argv = accounts.useradd_argv("vdsm", home="/var/lib/vdsm", shell="/x",
                                 groups=["kvm"], uid=36)
    assert argv[-1] == "vdsm" and argv[argv.index("--uid") + 1] == "36"
    assert "--uid" not in accounts.useradd_argv("vdsm", home="/h", shell="/x")


@pytest.mark.skipif(os.geteuid() != 0, reason="the USER step runs as root")
def test_bootstrap_step_warns_naming_who_holds_36(tmp_path):
    """The real USER step with the id decision read from a temporary root;
    the host's vdsm and kvm exist already, so nothing is created."""
    try:
        vdsm = pwd.getpwnam("vdsm")
    except KeyError:
        pytest.skip("needs the host's vdsm user (created by bootstrap)")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        f"nfsnobody:x:36:36::/:/bin/false\nvdsm:x:{vdsm.pw_uid}:1::/:/bin/false\n")
    (etc / "group").write_text("backup:x:36:\nkvm:x:994:\n")
    result = host_setup.ensure_vdsm_user("vdsm", root=str(tmp_path))
    assert result.status == "WARN", result
    assert f"user vdsm exists with uid {vdsm.pw_uid}, not the classic uid 36 " \
           "(uid 36 is held by user 'nfsnobody')" in result.message
    assert "group kvm exists with gid 994, not the classic gid 36 " \
           "(gid 36 is held by group 'backup')" in result.message
    assert pwd.getpwnam("vdsm").pw_uid == vdsm.pw_uid    # never renumbered
