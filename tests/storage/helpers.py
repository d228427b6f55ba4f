"""Real storage for tests: loop-backed ext4, a private sanlock daemon, agents.

Every resource is released by the test that made it (loop devices
detached, mounts lazily unmounted, daemons stopped by pid), in finally
blocks, with bounded waits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agentproc import AgentRoot
from vdsm.common import commands
from vdsm.storage.connections import mounts

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE_DIR = os.environ.get("VDSM_TEST_CACHE", "/var/tmp/vdsm-test-cache")
SHIM_SOURCE = os.path.join(REPO, "scripts", "sanlock-setrlimit-shim.c")

need_root = pytest.mark.skipif(os.geteuid() != 0,
                               reason="needs root (mounts, loop devices, sanlock)")
need_sanlock = pytest.mark.skipif(shutil.which("sanlock") is None,
                                  reason="the sanlock package is not installed")

# Small timeouts so tests run in seconds (production defaults in config.py).
STORAGE_OVERRIDES: dict[tuple[str, str], Any] = {
    ("irs", "sd_health_check_delay"): 0.5,
    ("irs", "process_pool_timeout"): 3.0,
    ("irs", "resource_timeout"): 20.0,
    ("irs", "host_id_timeout"): 30.0,
    ("irs", "spm_check_interval"): 1.0,
    ("sanlock", "io_timeout"): 1,
}


def new_uuid() -> str:
    return str(uuid.uuid4())


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def loop_ext4(size_mb: int = 256, directory: str = "/var/tmp", *,
              direct_io: bool = False, preallocate: bool = False) -> Iterator[str]:
    """A loop device carrying a fresh ext4; detached afterwards.

    For steady throughput figures, ``direct_io`` makes the loop device
    bypass the page cache of its backing file and ``preallocate`` allocates
    the backing file up front (else the first write to each region pays for
    allocating it)."""
    fd, image = tempfile.mkstemp(prefix="vdsm-loop-", suffix=".img", dir=directory)
    os.close(fd)
    device = None
    try:
        os.truncate(image, size_mb * 1024 * 1024)
        if preallocate:
            fd = os.open(image, os.O_WRONLY)
            try:
                os.posix_fallocate(fd, 0, size_mb * 1024 * 1024)
            finally:
                os.close(fd)
        commands.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", image], timeout=60)
        argv = ["losetup", "-f", "--show"]
        if direct_io:
            argv.append("--direct-io=on")
        device = commands.run(argv + [image], timeout=30).out.strip()
        yield device
    finally:
        if device:
            commands.run(["losetup", "-d", device], timeout=30, check=False)
        os.unlink(image)


@contextlib.contextmanager
def loop_device(size_mb: int = 64, directory: str = "/tmp", *,
                sector_size: int | None = None) -> Iterator[str]:
    """A loop device on a sparse file (no file system), standing in for a
    LUN; detached and its file removed afterwards. ``sector_size`` sets
    the device's logical block size (512 or 4096)."""
    fd, image = tempfile.mkstemp(prefix="vdsm-lun-", suffix=".img", dir=directory)
    os.close(fd)
    device = None
    try:
        os.truncate(image, size_mb * 1024 * 1024)
        argv = ["losetup", "-f", "--show"]
        if sector_size:
            argv.append(f"--sector-size={sector_size}")
        device = commands.run(argv + [image], timeout=30).out.strip()
        yield device
    finally:
        if device:
            commands.run(["losetup", "-d", device], timeout=30, check=False)
        os.unlink(image)


def unmount_under(root: str) -> None:
    """Lazily unmount whatever a test left mounted below ``root``."""
    for record in sorted(mounts.mount_records(), key=lambda r: r.mountpoint,
                         reverse=True):
        if record.mountpoint.startswith(root.rstrip("/") + "/"):
            commands.run(["umount", "-l", record.mountpoint], timeout=30, check=False)


def sanlock_shim() -> str:
    """The LD_PRELOAD library letting sanlock start without CAP_SYS_RESOURCE,
    compiled once into a cache directory outside the repository."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    target = os.path.join(CACHE_DIR, "sanlock-setrlimit-shim.so")
    if not os.path.exists(target) or \
            os.path.getmtime(target) < os.path.getmtime(SHIM_SOURCE):
        tmp = target + f".{os.getpid()}"
        commands.run(["gcc", "-shared", "-fPIC", "-O2", "-o", tmp, SHIM_SOURCE, "-ldl"],
                     timeout=120)
        os.replace(tmp, target)
    return target


class SanlockDaemon:
    """A private sanlock daemon: no watchdog (-w 0), its own run dir."""

    def __init__(self, run_dir: str, *, group: str = "root") -> None:
        self.run_dir = run_dir
        self.group = group
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(run_dir, "sanlock.out")

    def env(self) -> dict[str, str]:
        return {"SANLOCK_RUN_DIR": self.run_dir}

    def start(self, timeout: float = 10.0) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        env = dict(os.environ, SANLOCK_RUN_DIR=self.run_dir, LD_PRELOAD=sanlock_shim())
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["sanlock", "daemon", "-D", "-w", "0", "-l", "0", "-L", "-1",
                 "-U", "root", "-G", self.group],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        sock = os.path.join(self.run_dir, "sanlock.sock")
        wait_for(lambda: os.path.exists(sock) or self.proc.poll() is not None,
                 timeout, "the sanlock socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"sanlock exited: {self.output()}")

    def output(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop it by pid; lockspaces left behind are forced away."""
        if self.proc is None or self.proc.poll() is not None:
            return
        commands.run(["sanlock", "client", "shutdown", "-f", "1"], timeout=15,
                     env=dict(os.environ, **self.env()), check=False)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class StorageAgentRoot(AgentRoot):
    """An AgentRoot whose vdsmd runs the storage subsystem and talks to a
    given sanlock daemon."""

    def __init__(self, overrides: dict[tuple[str, str], Any] | None = None, *,
                 sanlock: SanlockDaemon | None = None,
                 vdsmd_module: str = "tests.storage.storage_vdsmd") -> None:
        values = dict(STORAGE_OVERRIDES)
        values.update(overrides or {})
        super().__init__(values)
        self.sanlock = sanlock
        self.vdsmd_module = vdsmd_module
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.sanlock is not None:
            env.update(self.sanlock.env())
        env.update(self.extra_env)
        return env

    def start_vdsmd(self, timeout: float = 30) -> subprocess.Popen:
        proc = self.start("vdsmd", self.vdsmd_module)
        self.wait_for_api(proc, timeout)
        return proc

    def cleanup(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        unmount_under(self.root)
        super().cleanup()


def merged(answer: dict[str, Any], key: str = "*") -> dict[str, Any]:
    """An answer whose payload is merged beside ``status`` (the classic
    getStoragePoolInfo/prepareImage/getVolumeSize form), whether the
    dispatcher merges it already or still nests it under "*"."""
    result = {k: v for k, v in answer.items() if k != key}
    if isinstance(answer.get(key), dict):
        result.update(answer[key])
    return result


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["status"]["code"] == 0, answer["status"]
    return answer


def wait_task(proxy: Any, task_id: str, timeout: float = 60) -> dict[str, Any]:
    """Wait for a task to end; return its status."""
    def done() -> dict[str, Any] | None:
        st = ok(proxy.getTaskStatus(task_id))["taskStatus"]
        return st if st["taskState"] == "finished" else None
    return wait_for(done, timeout, f"task {task_id}", interval=0.05)


class StorageHost:
    """One simulated host: its sanlock daemon, supervdsmd and vdsmd (as the
    vdsm user), all under one temporary root, stopped by pid."""

    def __init__(self, overrides: dict[tuple[str, str], Any] | None = None, *,
                 vdsmd_module: str = "tests.storage.storage_vdsmd") -> None:
        """``vdsmd_module``: what runs as vdsmd (``python -m``)."""
        self.root = StorageAgentRoot(overrides, vdsmd_module=vdsmd_module)
        self.sanlock = SanlockDaemon(os.path.join(self.root.root, "run", "sanlock"),
                                     group="vdsm")
        self.root.sanlock = self.sanlock

    def start(self) -> StorageHost:
        """Start all three, or stop whatever did start and raise."""
        try:
            self.sanlock.start()
            self.root.start_supervdsmd()
            self.root.start_vdsmd()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def config(self) -> Any:
        return self.root.config

    def proxy(self) -> Any:
        return self.root.proxy()

    def output(self) -> str:
        return self.root.output("vdsmd")

    def stop(self) -> None:
        try:
            self.root.stop("vdsmd")
            self.root.stop("supervdsmd")
        finally:
            try:
                self.sanlock.stop()
            finally:
                self.root.cleanup()


BLANK = "00000000-0000-0000-0000-000000000000"


def posix_connection(device: str) -> dict[str, Any]:
    return {"id": new_uuid(), "connection": device, "vfs_type": "ext4",
            "mnt_options": ""}


def create_pool(proxy: Any, device: str, *, host_id: int = 1,
                start_spm: bool = True) -> dict[str, Any]:
    """Connect a loop ext4 as POSIX storage, create a data domain and a
    pool with it as master, connect as ``host_id`` and (optionally) become
    SPM. Returns the names."""
    con = posix_connection(device)
    statuses = ok(proxy.connectStorageServer(6, BLANK, [con]))["statuslist"]
    assert statuses == [{"id": con["id"], "status": 0}], statuses
    sd_uuid, sp_uuid = new_uuid(), new_uuid()
    ok(proxy.createStorageDomain(6, sd_uuid, "master data", device, 1))
    ok(proxy.createStoragePool(0, sp_uuid, "test pool", sd_uuid, [sd_uuid], 1))
    ok(proxy.connectStoragePool(sp_uuid, host_id, "", sd_uuid, 1))
    if start_spm:
        become_spm(proxy, sp_uuid)
    return {"con": con, "sd": sd_uuid, "sp": sp_uuid}


def become_spm(proxy: Any, sp_uuid: str, timeout: float = 60) -> dict[str, Any]:
    task_id = ok(proxy.spmStart(sp_uuid, -1, -1, -1, False))["uuid"]
    status = wait_task(proxy, task_id, timeout)
    assert status["taskResult"] == "success", status
    return status


def code(answer: dict[str, Any]) -> int:
    """The status code of an API answer."""
    return answer["status"]["code"]
