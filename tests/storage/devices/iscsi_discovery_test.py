"""discoverSendTargets: the classic answer shape, iscsi-ls and discovery
record handling on recorded output (tests/storage/data/README.iscsi_ls),
discovery of a real tgtd target through libiscsi, and the CHAP discovery
op against the real iscsiadm (which fails here at the discovery itself:
no iscsid without the kernel's iSCSI netlink)."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from tests.storage.devices.tgt import need_tgt, tgtd
from tests.storage.helpers import HERE, need_root
from vdsm.common.errors import InvalidParameter
from vdsm.storage.connections import iscsiadm
from vdsm.storage.devices import iscsi_discovery as discovery
from vdsm.storage.errors import IscsiDiscoveryError
from vdsm.supervdsm import ops_devices

DATA = os.path.join(HERE, "data")
IQN1 = "iqn.2024-01.org.example:storage.lun1"


def read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def test_classic_answer_from_recorded_iscsiadm_lines():
    targets = iscsiadm.parse_targets(read("iscsiadm_node.out"))
    targets.append(iscsiadm.Target("fd00::1", 3260, 2, "iqn.2024-01.org.x:v6"))
    assert discovery.send_targets_answer(targets) == {
        "fullTargets": [f"127.0.0.1:3260,1 {IQN1}",
                        "127.0.0.1:3260,1 iqn.2024-01.org.example:storage.lun2"],
        "targets": [IQN1, "iqn.2024-01.org.example:storage.lun2"]}
    v6 = discovery.send_targets_answer(targets, ipv6_enabled=True)
    assert v6["fullTargets"][-1] == "[fd00::1]:3260,2 iqn.2024-01.org.x:v6"


def test_parse_recorded_iscsi_ls():
    expected = [iscsiadm.Target("127.0.0.1", 13261, 1,
                                "iqn.2024-01.org.example:dev.lun1")]
    assert discovery.parse_iscsi_ls(read("iscsi_ls_discovery.out")) == expected
    assert discovery.parse_iscsi_ls(read("iscsi_ls_luns_auth_failed.out")) == expected
    assert discovery.parse_iscsi_ls(read("iscsi_ls_refused.err")) == []


def test_iscsi_ls_password_only_in_environment():
    argv, env = discovery.iscsi_ls_command("127.0.0.1", 3260, "jo e@x", "s3cret")
    assert argv == ["iscsi-ls", "iscsi://jo%20e%40x@127.0.0.1:3260"]
    assert env == {"LIBISCSI_CHAP_PASSWORD": "s3cret"}
    assert discovery.iscsi_ls_command("fd00::1", 3260) == (
        ["iscsi-ls", "iscsi://[fd00::1]:3260"], {})
    with pytest.raises(InvalidParameter):
        discovery.iscsi_ls_command("-s", 3260)


def test_chap_set_and_cleared_in_recorded_record():
    record = read("iscsiadm_st_config.new")
    chap = discovery.with_auth(record, "CHAP", "joe", "s3cret")
    lines = chap.splitlines()
    assert lines[-4:] == ["discovery.sendtargets.auth.authmethod = CHAP",
                          "discovery.sendtargets.auth.username = joe",
                          "discovery.sendtargets.auth.password = s3cret",
                          "# END RECORD"]
    assert sum("auth.authmethod" in line for line in lines) == 1
    cleared = discovery.with_auth(chap)
    assert "s3cret" not in cleared and "joe" not in cleared
    assert "discovery.sendtargets.auth.authmethod = None" in cleared
    assert discovery.discoverydb_argv("fd00::1", 3260, "default", "--discover") == [
        "iscsiadm", "-m", "discoverydb", "-t", "sendtargets", "-I", "default",
        "-p", "[fd00::1]:3260", "--discover"]


@need_tgt
def test_real_tgtd_target_is_discovered(tmp_path, caplog):
    lun = tmp_path / "lun1.img"
    lun.write_bytes(b"")
    os.truncate(lun, 64 * 1024 * 1024)
    iqn = "iqn.2024-01.org.example:devices.lun1"
    caplog.set_level(logging.DEBUG, logger="vdsm.common.commands")
    with tgtd(str(tmp_path / "tgtd.log")) as target:
        target.add_target(1, iqn, str(lun))
        target.add_chap(1, "joe", "tgt-secret-1234")
        caplog.clear()  # the target's own set-up names the password
        found = discovery.discover_user_space("127.0.0.1", target.port)
        assert found == [iscsiadm.Target("127.0.0.1", target.port, 1, iqn)]
        assert discovery.send_targets_answer(found) == {
            "fullTargets": [f"127.0.0.1:{target.port},1 {iqn}"], "targets": [iqn]}
        with_chap = discovery.discover_user_space("127.0.0.1", target.port, user="joe",
                                                  password="tgt-secret-1234")
        assert with_chap == found
        assert "tgt-secret-1234" not in caplog.text
        port = target.port
    with pytest.raises(IscsiDiscoveryError, match="Connection refused"):
        discovery.discover_user_space("127.0.0.1", port)


@pytest.fixture
def recording_iscsiadm(tmp_path, monkeypatch):
    """The real iscsiadm behind a wrapper that records every command line and
    the discovery record as it is at the moment of --discover."""
    real = shutil.which("iscsiadm")
    if real is None:
        pytest.skip("needs iscsiadm (open-iscsi)")
    wrapper = tmp_path / "bin" / "iscsiadm"
    wrapper.parent.mkdir()
    wrapper.write_text(f"""#!/bin/sh
echo "$*" >> {tmp_path}/argv
case "$*" in *--discover*) cat "$RECORD" > {tmp_path}/record_at_discover ;; esac
exec {real} "$@"
""")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    return tmp_path


@need_root
def test_chap_discovery_keeps_the_secret_off_command_lines(recording_iscsiadm,
                                                           monkeypatch, caplog):
    port = 3260 + os.getpid() % 20000 + 10000  # a portal no other test uses
    monkeypatch.setenv("RECORD", discovery.record_path("127.0.0.1", port))
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(IscsiDiscoveryError, match="discovery"):
            # no iscsid here: the discovery itself fails, after the record
            ops_devices.iscsi_discover_chap(None, portal="127.0.0.1", port=port,
                                            user="joe", password="chap-s3cret-99")
        at_discover = (recording_iscsiadm / "record_at_discover").read_text()
        assert "discovery.sendtargets.auth.password = chap-s3cret-99" in at_discover
        # a failed discovery leaves no record of its own (the fuzzer found them)
        assert not os.path.exists(discovery.record_path("127.0.0.1", port))
        # a record that was there before stays, its credentials cleared
        ops_devices._iscsiadm(discovery.discoverydb_argv("127.0.0.1", port, "default",
                                                         "-o", "new"))
        with pytest.raises(IscsiDiscoveryError, match="discovery"):
            ops_devices.iscsi_discover_chap(None, portal="127.0.0.1", port=port,
                                            user="joe", password="chap-s3cret-99")
        with open(discovery.record_path("127.0.0.1", port)) as f:
            assert "chap-s3cret-99" not in f.read()  # cleared afterwards
        assert "chap-s3cret-99" not in (recording_iscsiadm / "argv").read_text()
        assert "chap-s3cret-99" not in caplog.text
    finally:
        ops_devices._iscsiadm(discovery.discoverydb_argv("127.0.0.1", port, "default",
                                                         "-o", "delete"))
