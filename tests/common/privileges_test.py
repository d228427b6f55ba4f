"""drop_privileges in forked children: the switch is complete and one-way."""

from __future__ import annotations

import grp
import json
import os
import pwd
import select
import time
import traceback

import pytest

from vdsm.common import privileges

USER = "nobody"


def in_child(func, timeout: float = 10.0):
    """Run func in a forked child; return its JSON-able result or error."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_fd)
            try:
                outcome = {"value": func()}
            except Exception as e:
                outcome = {"raised": type(e).__name__, "message": str(e)}
            os.write(write_fd, json.dumps(outcome).encode())
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout)
        data = os.read(read_fd, 65536) if ready else b""
    finally:
        os.close(read_fd)
        deadline = time.monotonic() + timeout
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
    assert data, "child failed without an answer (see stderr)"
    return json.loads(data)


@pytest.fixture(autouse=True)
def need_root():
    if os.geteuid() != 0:
        pytest.skip("dropping privileges needs to start as root")


def test_drop_privileges_is_complete_and_irreversible():
    def child():
        privileges.drop_privileges(USER)
        regained = []
        for call in (os.setuid, os.seteuid, os.setgid, os.setegid):
            try:
                call(0)
                regained.append(call.__name__)
            except PermissionError:
                pass
        try:
            os.setgroups([0])
            regained.append("setgroups")
        except PermissionError:
            pass
        with open("/proc/self/status") as f:
            caps = {k: v.strip() for k, _, v in (line.partition(":") for line in f)
                    if k in ("CapPrm", "CapEff", "CapAmb")}
        return {"resuid": list(os.getresuid()), "resgid": list(os.getresgid()),
                "groups": sorted(os.getgroups()), "regained": regained,
                "caps": caps, "home": os.environ["HOME"],
                "user": os.environ["USER"],
                "proc_self_readable": os.access("/proc/self/fd", os.R_OK)}

    pw = pwd.getpwnam(USER)
    result = in_child(child)["value"]
    assert result["resuid"] == [pw.pw_uid] * 3
    assert result["resgid"] == [pw.pw_gid] * 3
    assert result["groups"] == privileges.user_groups(USER)
    assert result["regained"] == []
    assert set(result["caps"].values()) == {"0000000000000000"}
    assert (result["home"], result["user"]) == (pw.pw_dir, USER)
    assert result["proc_self_readable"]


def test_extra_groups_added_when_they_exist():
    expected = {grp.getgrnam(g).gr_gid for g in privileges.EXTRA_GROUPS
                if g in {e.gr_name for e in grp.getgrall()}}
    assert expected <= set(privileges.user_groups(USER))
    assert pwd.getpwnam(USER).pw_gid in privileges.user_groups(USER)


def test_cannot_switch_to_another_user_once_dropped():
    def child():
        privileges.drop_privileges(USER)
        privileges.drop_privileges(USER)  # already that user: fine
        privileges.drop_privileges("root")

    assert in_child(child)["raised"] == "PrivilegeError"


def test_unknown_user_refused_without_change():
    with pytest.raises(privileges.PrivilegeError, match="does not exist"):
        privileges.drop_privileges("no-such-user-xyz")
    assert os.getresuid() == (0, 0, 0)


def test_ensure_user():
    assert privileges.ensure_user("root")
    assert privileges.ensure_user(USER)
    assert not privileges.ensure_user("no-such-user-xyz")
