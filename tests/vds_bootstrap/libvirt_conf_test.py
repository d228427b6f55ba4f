"""Setting our keys in libvirt config files without touching the rest."""

from __future__ import annotations

import os

from vds_bootstrap import libvirt_conf

QEMU_CONF = '''# Master configuration file for the QEMU driver.
#user = "root"
user = "libvirt-qemu"   # set by the package
vnc_listen = "0.0.0.0"
security_driver = [ "selinux" ]
'''
WANTED = {"user": "root", "group": "root", "security_driver": "none"}


def test_apply_replaces_and_appends() -> None:
    text = libvirt_conf.apply(QEMU_CONF, WANTED)
    lines = text.splitlines()
    assert '#user = "root"' in lines
    assert 'user = "root"' in lines and 'user = "libvirt-qemu"' not in text
    assert 'vnc_listen = "0.0.0.0"' in lines
    assert 'security_driver = "none"' in lines
    assert lines[-1] == 'group = "root"'
    assert libvirt_conf.apply(text, WANTED) == text


def test_keep_existing() -> None:
    text = 'host_uuid = "11111111-2222-3333-4444-555555555555"\n'
    assert libvirt_conf.apply(text, {"host_uuid": "x"},
                              keep_existing={"host_uuid"}) == text
    assert 'host_uuid = "x"' in libvirt_conf.apply("", {"host_uuid": "x"},
                                                   keep_existing={"host_uuid"})


def test_render() -> None:
    assert libvirt_conf.render(1) == "1"
    assert libvirt_conf.render(True) == "1"
    assert libvirt_conf.render('a"b') == '"a\\"b"'


def test_update_writes_once(tmp_path) -> None:
    path = tmp_path / "qemu.conf"
    path.write_text(QEMU_CONF)
    os.chmod(path, 0o600)
    assert libvirt_conf.update(str(path), WANTED)
    mtime = os.stat(path).st_mtime_ns
    assert not libvirt_conf.update(str(path), WANTED)
    assert os.stat(path).st_mtime_ns == mtime
    assert os.stat(path).st_mode & 0o777 == 0o600
    missing = tmp_path / "etc" / "libvirtd.conf"
    assert libvirt_conf.update(str(missing), {"host_uuid": "u"})
    assert 'host_uuid = "u"' in missing.read_text()
