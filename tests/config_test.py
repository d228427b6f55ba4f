"""Configuration loading: defaults, files, conf.d, bad values."""

from __future__ import annotations

import os

import pytest

from vdsm import config
from vdsm.common.errors import InvalidConfiguration


def test_defaults_are_the_classic_ones():
    c = config.Config()
    assert c.get("addresses", "management_port") == 54321
    assert c.get("vars", "ssl") is True
    assert c.pki_dir == "/etc/pki/vdsm"
    assert c.host_cert == "/etc/pki/vdsm/certs/vdsmcert.pem"
    assert c.supervdsm_socket == "/run/vdsm/svdsm.sock"
    assert c.mount_root == "/rhev/data-center/mnt"


def test_metrics_defaults_listen_on_loopback():
    c = config.Config()
    assert c.get("metrics", "enabled") is True
    assert c.get("metrics", "address") == "127.0.0.1"
    assert c.get("metrics", "port") == 9111
    c.set("metrics", "port", "0")
    assert c.get("metrics", "port") == 0


def test_file_and_conf_d_override(tmp_path, monkeypatch):
    path = tmp_path / "vdsm.conf"
    config.write(str(path), config.rooted(str(tmp_path), vars__ssl=False))
    os.makedirs(tmp_path / "vdsm.conf.d")
    (tmp_path / "vdsm.conf.d" / "50-port.conf").write_text(
        "[addresses]\nmanagement_port = 4444\n")
    monkeypatch.setenv("VDSM_CONF", str(path))
    c = config.load()
    assert c.get("vars", "ssl") is False
    assert c.get("addresses", "management_port") == 4444
    assert c.run_dir == str(tmp_path / "run/vdsm")
    assert len(c.files) == 2


def test_every_path_is_under_the_root(tmp_path):
    path = tmp_path / "vdsm.conf"
    config.write(str(path), config.rooted(str(tmp_path)))
    c = config.load(str(path))
    for p in (c.run_dir, c.state_dir, c.log_dir, c.hooks_dir, c.pki_dir,
              c.repository, c.supervdsm_socket):
        assert p.startswith(str(tmp_path))


def test_bad_value_and_unknown_key(tmp_path):
    path = tmp_path / "vdsm.conf"
    path.write_text("[addresses]\nmanagement_port = many\n")
    with pytest.raises(InvalidConfiguration, match="management_port"):
        config.load(str(path))
    path.write_text("[vars]\nno_such_key = 1\n")
    with pytest.raises(InvalidConfiguration, match="no_such_key"):
        config.load(str(path))


def test_format_round_trips(tmp_path):
    c = config.Config()
    path = tmp_path / "printed.conf"
    path.write_text(c.format())
    assert dict(((s, k), v) for s, k, v in config.load(str(path)).items()) == \
        dict(((s, k), v) for s, k, v in c.items())


def test_explicit_missing_file_is_an_error(monkeypatch):
    with pytest.raises(InvalidConfiguration, match="does not exist"):
        config.load("/nonexistent/vdsm.conf")
    monkeypatch.setenv("VDSM_CONF", "/nonexistent/other.conf")
    with pytest.raises(InvalidConfiguration, match="does not exist"):
        config.load()
