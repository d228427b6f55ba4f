"""The SANLOCK step: the daemon's command line, and a real daemon started
under a temporary root (no watchdog, stopped by its pid)."""

from __future__ import annotations

import os
import shutil

import pytest

from vds_bootstrap import sanlock_setup
from vdsm import config

from .bootstrap_procs import stop_pid


def _config(root: str, **values: object) -> config.Config:
    wanted = config.rooted(root)
    for key, value in values.items():
        wanted[("sanlock", key)] = value
    return config.Config(values=wanted)


def test_argv_without_watchdog_on_a_rooted_host_in_a_sandbox():
    argv = sanlock_setup.daemon_argv(watchdog=False, group="vdsm", shim=True,
                                     system=False)
    assert argv[:4] == ["sanlock", "daemon", "-w", "0"]
    assert argv[argv.index("-G") + 1] == "vdsm"
    assert argv[argv.index("-l") + 1] == "0"
    assert argv[argv.index("-L") + 1] == "-1"


def test_argv_of_a_real_host_with_a_watchdog():
    argv = sanlock_setup.daemon_argv(watchdog=True, group="vdsm", shim=False,
                                     system=True)
    assert argv[2:4] == ["-w", "1"]
    assert "-l" not in argv and "-L" not in argv


def test_watchdog_only_when_configured_and_present(host_root):
    assert sanlock_setup.use_watchdog(_config(host_root)) == (False, "")
    wanted, note = sanlock_setup.use_watchdog(_config(host_root, watchdog=True))
    if os.path.exists(sanlock_setup.WATCHDOG_DEVICE):
        assert wanted and note == ""
    else:
        assert not wanted and "no /dev/watchdog" in note


def test_rooted_run_dir_is_under_the_root(host_root):
    assert _config(host_root).get("sanlock", "run_dir") == \
        os.path.join(host_root, "run/sanlock")
    assert config.Config().get("sanlock", "run_dir") == "/run/sanlock"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("sanlock") is None,
                    reason="starting sanlock needs root and the sanlock package")
def test_starts_once_and_then_finds_it_running(host_root):
    # watchdog asked for: used only where the host has /dev/watchdog and
    # wdmd, so here (no watchdog device) it must start with -w 0.
    if os.path.exists(sanlock_setup.WATCHDOG_DEVICE):
        pytest.skip("this host has a watchdog: never start sanlock with it here")
    cfg = _config(host_root, watchdog=True)
    run_dir = cfg.get("sanlock", "run_dir")
    os.makedirs(cfg.state_dir)
    assert sanlock_setup.ensure_sanlock(cfg, start=False).status == "WARN"
    pid = None
    try:
        first = sanlock_setup.ensure_sanlock(cfg, start=True)
        pid = sanlock_setup.daemon_pid(run_dir)
        assert first.status == "OK" and first.changed, first
        assert "no watchdog" in first.message and "no /dev/watchdog" in first.message
        assert pid is not None and sanlock_setup.running(run_dir)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        assert args[args.index(b"-w") + 1] == b"0"

        second = sanlock_setup.ensure_sanlock(cfg, start=True)
        assert second.status == "OK" and not second.changed, second
        assert "already running" in second.message
        assert sanlock_setup.daemon_pid(run_dir) == pid
    finally:
        if pid is not None:
            stop_pid(pid)
    assert not sanlock_setup.running(run_dir)


def test_not_installed_fails_naming_the_package(host_root, monkeypatch):
    monkeypatch.setattr(sanlock_setup.shutil, "which", lambda name: None)
    result = sanlock_setup.ensure_sanlock(_config(host_root), start=True)
    assert result.status == "FAIL" and "apt-get install sanlock" in result.message


@pytest.mark.skipif(shutil.which("sanlock") is None,
                    reason="the sanlock package is not installed")
def test_watchdog_without_wdmd_fails_and_starts_nothing(host_root, monkeypatch):
    device = os.path.join(host_root, "watchdog")
    open(device, "w").close()  # stands for /dev/watchdog: only its presence counts
    monkeypatch.setattr(sanlock_setup, "WATCHDOG_DEVICE", device)
    monkeypatch.setattr(sanlock_setup, "WDMD_SOCKET",
                        os.path.join(host_root, "no-wdmd.sock"))
    cfg = _config(host_root, watchdog=True)
    result = sanlock_setup.ensure_sanlock(cfg, start=True)
    assert result.status == "FAIL" and "wdmd is not running" in result.message
    assert not os.path.exists(cfg.get("sanlock", "run_dir"))


@pytest.mark.skipif(shutil.which("sanlock") is None,
                    reason="the sanlock package is not installed")
def test_unusable_run_dir_fails_with_the_reason(host_root):
    blocker = os.path.join(host_root, "file")
    open(blocker, "w").close()
    cfg = _config(host_root, run_dir=os.path.join(blocker, "sanlock"))
    result = sanlock_setup.ensure_sanlock(cfg, start=True)
    assert result.status == "FAIL" and "cannot start sanlock" in result.message
