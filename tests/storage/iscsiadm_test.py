"""iSCSI: iscsiadm command lines, parsing of recorded real output, the
supervdsm ops' exit-code handling, and the end-to-end login (skipped
where the kernel has no iSCSI initiator).

Recorded with open-iscsi 2.1.8 against tgtd on this kind of machine
(tests/storage/data): node records (the same "ip:port,tpgt iqn" lines as a
SendTargets discovery answers), the failed discovery and login, and the
empty session list.
"""

from __future__ import annotations

import os

import pytest

from tests.storage.helpers import (
    BLANK,
    HERE,
    StorageAgentRoot,
    need_root,
    new_uuid,
    ok,
)
from vdsm.agent import Agent
from vdsm.common.errors import InvalidParameter
from vdsm.storage.connections import iscsiadm
from vdsm.storage.errors import (
    IscsiDiscoveryError,
    IscsiLoginAuthError,
    IscsiLoginError,
)
from vdsm.storage.subsystem import StorageSubsystem
from vdsm.supervdsm import ops_storage

DATA = os.path.join(HERE, "data")
T1 = iscsiadm.Target("127.0.0.1", 3260, 1, "iqn.2024-01.org.example:storage.lun1")


def read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def test_parse_recorded_target_lines():
    assert iscsiadm.parse_targets(read("iscsiadm_node.out")) == [
        T1, iscsiadm.Target("127.0.0.1", 3260, 1,
                            "iqn.2024-01.org.example:storage.lun2")]


def test_parse_ipv6_and_session_lines():
    assert iscsiadm.parse_targets("[fd00::1]:3260,2 iqn.2024-01.org.x:t\n") == [
        iscsiadm.Target("fd00::1", 3260, 2, "iqn.2024-01.org.x:t")]
    line = "tcp: [3] 10.35.0.1:3260,1 iqn.2024-01.org.x:t (non-flash)\n"
    (session,) = iscsiadm.parse_sessions(line)
    assert (session.sid, session.target.portal, session.target.iqn) == (
        3, "10.35.0.1", "iqn.2024-01.org.x:t")
    assert iscsiadm.parse_sessions(read("iscsiadm_session_rc21.err")) == []


def test_command_lines():
    assert iscsiadm.discovery_argv("10.0.0.1", 3260) == [
        "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-I", "default",
        "-p", "10.0.0.1:3260"]
    assert iscsiadm.login_argv(T1) == [
        "iscsiadm", "-m", "node", "-T", T1.iqn, "-I", "default", "-p",
        "127.0.0.1:3260,1", "-l"]
    assert iscsiadm.logout_argv(T1)[-1] == "-u"
    assert iscsiadm.new_node_argv(T1)[-1] == "--op=new"
    auth = iscsiadm.auth_argvs(T1, "joe", "s3cret")
    assert [a[-5:] for a in auth] == [
        ["-n", "node.session.auth.authmethod", "-v", "CHAP", "--op=update"],
        ["-n", "node.session.auth.username", "-v", "joe", "--op=update"],
        ["-n", "node.session.auth.password", "-v", "s3cret", "--op=update"]]
    v6 = iscsiadm.Target("fd00::1", 3260, 1, "iqn.2024-01.org.x:t")
    assert "[fd00::1]:3260,1" in iscsiadm.login_argv(v6)


@pytest.mark.parametrize("portal,iqn", [
    ("-l", "iqn.2024-01.org.x:t"), ("10.0.0.1; rm", "iqn.2024-01.org.x:t"),
    ("10.0.0.1", "--op=delete"), ("10.0.0.1", "iqn.bad"),
])
def test_hostile_arguments_are_refused(portal, iqn):
    with pytest.raises(InvalidParameter):
        iscsiadm.login_argv(iscsiadm.Target(portal, 3260, 1, iqn))


@pytest.fixture
def fake_iscsiadm(tmp_path, monkeypatch):
    """An iscsiadm on PATH replaying recorded answers: login rc from a file."""
    script = tmp_path / "iscsiadm"
    script.write_text(f"""#!/bin/sh
case "$*" in
  *discovery*) cat {DATA}/iscsiadm_discovery_rc12.err >&2; exit 12 ;;
  *--op=new*) cat {DATA}/iscsiadm_node_new.out; exit 0 ;;
  *--op=update*) exit 0 ;;
  *" -l") cat {DATA}/iscsiadm_login_rc20.err >&2; exit $(cat {tmp_path}/login_rc) ;;
  *"-m session") cat {DATA}/iscsiadm_session_rc21.err >&2; exit 21 ;;
  *" -u") exit 21 ;;
esac
exit 1
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    return tmp_path


def test_ops_map_recorded_failures(fake_iscsiadm):
    with pytest.raises(IscsiDiscoveryError) as e:
        ops_storage.iscsi_discover(None, portal="127.0.0.1")
    assert "iSCSI driver not found" in e.value.message
    (fake_iscsiadm / "login_rc").write_text("20")
    with pytest.raises(IscsiLoginError) as e:
        ops_storage.iscsi_login(None, iqn=T1.iqn, portal="127.0.0.1")
    assert "could not connect to iscsid" in e.value.message
    (fake_iscsiadm / "login_rc").write_text("24")
    with pytest.raises(IscsiLoginAuthError):
        ops_storage.iscsi_login(None, iqn=T1.iqn, portal="127.0.0.1", user="u",
                                password="p")
    (fake_iscsiadm / "login_rc").write_text("15")  # already logged in: fine
    ops_storage.iscsi_login(None, iqn=T1.iqn, portal="127.0.0.1")
    assert ops_storage.iscsi_sessions(None) == []
    ops_storage.iscsi_logout(None, iqn=T1.iqn, portal="127.0.0.1")


@pytest.mark.skipif(not os.path.isdir("/sys/class/iscsi_transport"),
                    reason="end-to-end iSCSI login skipped: this kernel has no "
                    "iSCSI initiator (no /sys/class/iscsi_transport, no iscsi_tcp)")
def test_iscsi_login_end_to_end():  # pragma: no cover - needs iscsi_tcp
    pytest.skip("no iSCSI target is set up in CI")


@need_root
def test_iscsi_connections_answer_per_connection_through_supervdsm():
    """A login that cannot work here fails with its own status, through the
    real supervdsmd; a malformed target is refused before any command."""
    root = StorageAgentRoot()
    agent = None
    try:
        root.start_supervdsmd()
        agent = Agent(root.config, subsystems=[StorageSubsystem])
        agent.bind()
        agent.start()
        agent.server.serve_in_thread()
        p = root.proxy()
        good = {"id": new_uuid(), "connection": "127.0.0.1", "port": "3260",
                "iqn": T1.iqn, "user": "joe", "password": "secret"}
        bad = {"id": new_uuid(), "connection": "127.0.0.1", "iqn": "--op=delete"}
        statuses = ok(p.connectStorageServer(3, BLANK, [good, bad]))["statuslist"]
        codes = {s["id"]: s["status"] for s in statuses}
        # no initiator in this kernel: login (464) or setup (454) fails
        assert codes[good["id"]] in (454, 464)
        assert codes[bad["id"]] == 453  # StorageServerValidationError
        statuses = ok(p.validateStorageServerConnection(3, BLANK, [good]))
        assert statuses["statuslist"][0]["status"] == 0
        with open(os.path.join(root.config.log_dir, "supervdsm.log")) as f:
            assert "secret" not in f.read()  # the CHAP password is masked
    finally:
        if agent is not None:
            agent.stop()
        root.cleanup()
