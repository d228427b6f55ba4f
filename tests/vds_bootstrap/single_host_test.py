"""The README's single host, end to end: bootstrap under a temporary root
(private libvirt, sanlock started by bootstrap), supervdsmd and vdsmd as
run-agent.sh starts them, then the README's vdsClient walk-through: a
local storage domain, a pool, the SPM, a disk, and a VM booting the test
guest with that disk attached, Up.

Only the network subsystem is kept in a namespace of its own ([network]
netns); every daemon started here is stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.agentproc import free_port
from tests.network.nstools import Netns
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.harness import BOOT_MARK, build_guest
from vds_bootstrap import libvirt_setup, sanlock_setup
from vdsm import config
from vdsm.common import commands

from .bootstrap_procs import REPO, read_pid, stop_pid, wait_exited

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("sanlock") is None,
    reason="a whole host: needs root and the sanlock package")

BLANK = "00000000-0000-0000-0000-000000000000"
GIB = 1024 ** 3
# Small timeouts so that the walk-through runs in seconds; a user keeps
# the defaults. Written to vdsm.conf.d, beside bootstrap's vdsm.conf.
TEST_CONF = """[sanlock]
io_timeout = 1
[irs]
sd_health_check_delay = 0.5
spm_check_interval = 1.0
host_id_timeout = 30
[metrics]
port = 0
[network]
netns = {netns}
"""


class SingleHost:
    """Daemons of one bootstrapped root, each stopped by its pid."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.conf = os.path.join(root, "etc/vdsm/vdsm.conf")
        self.layout = libvirt_setup.private_layout(os.path.join(root, "libvirt"))
        self.procs: list[subprocess.Popen] = []
        self.run_dir = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=REPO)
        env.pop("SANLOCK_RUN_DIR", None)  # vdsmd must find it in its config
        return env

    def bootstrap(self, port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vds_bootstrap.bootstrap", "--root", self.root,
             "--libvirt-dir", self.layout.base, "--management-ip", "127.0.0.1",
             "--management-port", str(port)],
            cwd=REPO, capture_output=True, text=True, timeout=180, env=self.env())

    def start_daemons(self) -> None:
        self.run_dir = config.load(self.conf).get("sanlock", "run_dir")
        log_dir = os.path.join(self.root, "var/log/vdsm")
        for module in ("vdsm.supervdsm.server", "vdsm.daemon"):
            with open(os.path.join(log_dir, f"{module}.out"), "ab") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", module, "--config", self.conf],
                    cwd=REPO, env=self.env(), stdout=out,
                    stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while self.vdsclient("ping", check=False).returncode != 0:
            assert time.monotonic() < deadline, self.output()
            assert all(p.poll() is None for p in self.procs), self.output()
            time.sleep(0.5)

    def vdsclient(self, *args: str, check: bool = True
                  ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, "-m", "vdsm_cli.vdsclient", "--config", self.conf,
             "-s", "0", *args],
            cwd=REPO, capture_output=True, text=True, timeout=90, env=self.env())
        if check:
            assert res.returncode == 0, (args, res.stdout, res.stderr)
        return res

    def wait_task(self, task_id: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while True:
            out = self.vdsclient("getTaskStatus", task_id).stdout
            if "finished" in out:
                return out
            assert time.monotonic() < deadline, out
            time.sleep(0.2)

    def output(self) -> str:
        path = os.path.join(self.root, "var/log/vdsm/vdsm.daemon.out")
        try:
            with open(path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                stop_pid(proc.pid, timeout=20)
                proc.wait(10)
        pid = sanlock_setup.daemon_pid(self.run_dir) if self.run_dir else None
        if pid is not None:
            # Lockspaces may be left: forced away (no watchdog: -w 0).
            commands.run(["sanlock", "client", "shutdown", "-f", "1"],
                         env=dict(os.environ, SANLOCK_RUN_DIR=self.run_dir),
                         timeout=15, check=False)
            if not wait_exited(pid, 10):
                stop_pid(pid)
        for name in ("libvirtd", "virtlogd"):
            pid = read_pid(self.layout.pidfile(name))
            if pid:
                stop_pid(pid)
        for name in ("subreaper-libvirtd", "subreaper-virtlogd"):
            pid = read_pid(self.layout.pidfile(name))
            if pid and not wait_exited(pid, 10):
                stop_pid(pid)


@pytest.fixture
def guest() -> dict:
    try:
        return build_guest()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"cannot build the test guest: {e}")


def test_readme_single_host_walk_through(host_root, guest):
    _, missing = libvirt_setup.find_binaries()
    if missing:
        pytest.skip(f"missing programs: {', '.join(missing)}")
    ensure_vdsm_user()
    netns = Netns(f"vdsmtest-single-{os.getpid()}")
    host = SingleHost(host_root)
    vm_id = None
    try:
        boot = host.bootstrap(free_port())
        assert boot.returncode == 0, boot.stdout + boot.stderr
        assert "component='SANLOCK' status='OK'" in boot.stdout, boot.stdout
        conf_d = os.path.join(host_root, "etc/vdsm/vdsm.conf.d")
        os.makedirs(conf_d, exist_ok=True)
        with open(os.path.join(conf_d, "50-test.conf"), "w") as f:
            f.write(TEST_CONF.format(netns=netns.name))
        host.start_daemons()

        # The README's commands, as a user pastes them (paths rooted).
        walk, back = readme_walk_through(host_root, guest)
        ids = run_shell(walk, host).stdout.split("IDS ")[1].split()
        sp, img, vol, vm_id = ids[1:]
        c = host.vdsclient
        assert "SPM" in c("getSpmStatus", sp).stdout
        deadline = time.monotonic() + 120
        while (status := _status(c("list", "table").stdout, vm_id)) != "Up":
            assert status != "Down", c("getVmStats", vm_id).stdout
            assert time.monotonic() < deadline, (status, host.output())
            time.sleep(0.5)
        # The created volume is the VM's disk.
        disks = commands.run(["virsh", "-c", host.layout.uri, "domblklist",
                              "demo-disk"], timeout=30).out
        assert img in disks and vol in disks, disks
        console = os.path.join(config.load(host.conf).log_dir, "console",
                               f"{vm_id}.log")
        deadline = time.monotonic() + 120
        while not _contains(console, BOOT_MARK):
            assert time.monotonic() < deadline, "the guest did not boot"
            time.sleep(0.5)

        run_shell(back, host, ids)
        vm_id = None
        assert _status(c("list", "table").stdout, ids[4]) == ""
    finally:
        try:
            if vm_id is not None:
                host.vdsclient("destroy", vm_id, check=False)
        finally:
            try:
                host.stop()
            finally:
                netns.delete()


README = os.path.join(REPO, "README")
FIRST = '       C=".venv/bin/vdsClient'
BACK = "       # and back"
LAST = "disconnectStoragePool"


def readme_walk_through(root: str, guest: dict) -> tuple[str, str]:
    """The README's single-host commands (to the VM, and back), with its
    paths under ``root``, vdsClient from this checkout and the test guest."""
    with open(README) as f:
        text = f.read()
    block = text[text.index(FIRST):]
    block = block[:block.index("\n", block.index(LAST))]
    walk, _, back = block.partition(BACK)
    vdsclient = f"{sys.executable} -m vdsm_cli.vdsclient"

    def shell(lines: str) -> str:
        lines = "\n".join(line[7:] for line in lines.splitlines())
        return lines.replace("/srv/vdsm", root).replace(
            ".venv/bin/vdsClient", vdsclient)

    guest_dir = os.path.dirname(guest["kernel"])
    head = f"set -e\nG={guest_dir}\n"
    return (head + shell(walk) + '\necho "IDS $SD $SP $IMG $VOL $VM"\n',
            head + shell(FIRST + block[len(FIRST):block.index("\n")] + "\n")
            + shell(back))


def run_shell(script: str, host: SingleHost, ids: list[str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    if ids:
        names = ("SD", "SP", "IMG", "VOL", "VM")
        script = "".join(f"{n}={v}\n" for n, v in zip(names, ids, strict=True)) + script
    res = subprocess.run(["timeout", "300", "bash", "-c", script], cwd=REPO,
                         env=host.env(), capture_output=True, text=True,
                         timeout=320)
    assert res.returncode == 0, (script, res.stdout, res.stderr, host.output())
    return res


def _status(table: str, vm_id: str) -> str:
    """The status column of ``vm_id`` in ``list table``."""
    for line in table.splitlines():
        if line.startswith(vm_id):
            return line.split()[-1]
    return ""


def _contains(path: str, text: str) -> bool:
    try:
        with open(path, errors="replace") as f:
            return text in f.read()
    except FileNotFoundError:
        return False
