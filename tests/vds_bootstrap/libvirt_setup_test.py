"""libvirt checks, and a real private libvirtd started by the real CLI.

The private instance runs in its own mount namespace over a temporary
tree; the test stops libvirtd and virtlogd by pid and starts no guest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from vds_bootstrap import libvirt_setup, report
from vdsm import config

from .bootstrap_procs import REPO, parent_of, read_pid, stop_pid, wait_exited


def test_layouts() -> None:
    system = libvirt_setup.Layout()
    assert system.uri == "qemu:///system" and system.binds == []
    assert system.pidfile("libvirtd") == "/run/libvirtd.pid"
    private = libvirt_setup.private_layout("/srv/h1")
    assert private.uri == \
        "qemu+unix:///system?socket=/srv/h1/run/libvirt/libvirt-sock"
    assert ("/srv/h1/etc/libvirt", "/etc/libvirt") in private.binds
    for bad in ("/", "/etc/libvirt", "/var/lib/libvirt/h1"):
        with pytest.raises(ValueError):
            libvirt_setup.private_layout(bad)


def test_probe_without_daemon(tmp_path) -> None:
    uri = f"qemu+unix:///system?socket={tmp_path}/libvirt-sock"
    state, detail = libvirt_setup.probe(uri)
    assert state == "down", detail
    assert "libvirt-sock" in detail


def test_not_started_when_disallowed(tmp_path) -> None:
    layout = libvirt_setup.private_layout(str(tmp_path / "libvirt"))
    result = libvirt_setup.check_libvirt(layout, start=False)
    if result.status == report.FAIL:
        pytest.skip(f"libvirt not installed here: {result.message}")
    assert result.status == report.WARN and not result.changed
    assert not os.path.exists(tmp_path / "libvirt")


def _bstrap(stdout: str) -> dict[str, dict[str, str]]:
    return {a["component"]: a for a in
            (ET.fromstring(line).attrib for line in stdout.splitlines())}


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="starting libvirtd and creating users needs root")
def test_private_libvirt_started_under_subreaper(host_root: str) -> None:
    _, missing = libvirt_setup.find_binaries()
    if missing:
        pytest.skip(f"missing programs: {', '.join(missing)}")
    layout = libvirt_setup.private_layout(os.path.join(host_root, "libvirt"))
    names = ("libvirtd", "virtlogd", "subreaper-libvirtd", "subreaper-virtlogd")
    host_qemu_conf = os.path.exists("/etc/libvirt/qemu.conf")
    argv = [sys.executable, "-m", "vds_bootstrap.bootstrap", "--root",
            host_root, "--libvirt-dir", layout.base, "--no-start-sanlock"]
    pids: dict[str, int | None] = {}
    try:
        first = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                               timeout=120)
        pids = {n: read_pid(layout.pidfile(n)) for n in names}
        assert first.returncode == 0, first.stdout + first.stderr
        result = _bstrap(first.stdout)["LIBVIRT"]
        assert result["status"] == "OK", result
        assert result["message"].startswith("started libvirt")
        # libvirtd runs under the launcher, which reaps its orphans.
        assert parent_of(pids["libvirtd"]) == pids["subreaper-libvirtd"]
        assert libvirt_setup.probe(layout.uri)[0] == "running"
        with open(os.path.join(layout.base, "etc/libvirt/qemu.conf")) as f:
            assert 'security_driver = "none"' in f.read().splitlines()
        cfg = config.load(os.path.join(host_root, "etc/vdsm/vdsm.conf"))
        assert cfg.get("vars", "libvirt_uri") == layout.uri
        # The host's own libvirt tree is left alone.
        assert not os.path.ismount("/etc/libvirt")
        assert os.path.exists("/etc/libvirt/qemu.conf") == host_qemu_conf

        second = subprocess.run(argv, cwd=REPO, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        results = _bstrap(second.stdout)
        assert results["LIBVIRT"]["message"].startswith("libvirt ")
        assert results["RELEASE"]["message"] == "already configured"
        assert read_pid(layout.pidfile("libvirtd")) == pids["libvirtd"]
    finally:
        pids.update({n: read_pid(layout.pidfile(n)) for n in names
                     if not pids.get(n)})
        for name in ("libvirtd", "virtlogd"):
            if pids.get(name):
                stop_pid(pids[name])
        # With their daemons gone the launchers exit by themselves.
        for name in ("subreaper-libvirtd", "subreaper-virtlogd"):
            if pids.get(name) and not wait_exited(pids[name], 10):
                stop_pid(pids[name])
