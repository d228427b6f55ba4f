"""The sanlock daemon of a single host: the SPM role needs its host ids.

A host takes its host id on the master domain through sanlock; with no
daemon running, spmStart fails and no volume can be created. This step
checks that the daemon answers at ``[sanlock] run_dir`` and otherwise
starts it there (it daemonizes itself; stop it with
``sanlock client shutdown``, or by the pid in ``run_dir/sanlock.pid``).

Watchdog: only when ``[sanlock] watchdog`` is set, the host has
/dev/watchdog and wdmd runs (the distribution's service; bootstrap never
starts wdmd). Otherwise ``-w 0``: a host that loses its storage leases is
not reset, which is what a single host or a test machine wants.

Without CAP_SYS_RESOURCE (a container or sandbox) the daemon cannot raise
RLIMIT_MEMLOCK/RTPRIO and exits at start; then it runs with a small
LD_PRELOAD library (scripts/sanlock-setrlimit-shim.c, compiled into the
agent's state dir) and ``-l 0`` (no mlockall). A real host needs neither.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import time

from vds_bootstrap import report
from vds_bootstrap.report import StepResult
from vdsm.common import commands
from vdsm.config import Config

log = logging.getLogger(__name__)

COMPONENT = "SANLOCK"
SYSTEM_RUN_DIR = "/run/sanlock"
WATCHDOG_DEVICE = "/dev/watchdog"
WDMD_SOCKET = "/run/wdmd/wdmd.sock"
START_TIMEOUT = 30.0
CAP_SYS_RESOURCE = 24
SHIM_SOURCE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "scripts", "sanlock-setrlimit-shim.c")


def _env(run_dir: str) -> dict[str, str]:
    return dict(os.environ, SANLOCK_RUN_DIR=run_dir)


def running(run_dir: str) -> bool:
    """True when a sanlock daemon answers on ``run_dir``'s socket."""
    if not os.path.exists(os.path.join(run_dir, "sanlock.sock")):
        return False
    res = commands.run(["sanlock", "client", "status"], env=_env(run_dir),
                       timeout=10, check=False)
    return res.rc == 0


def daemon_pid(run_dir: str) -> int | None:
    try:
        with open(os.path.join(run_dir, "sanlock.pid")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def has_cap_sys_resource() -> bool:
    """Whether this process may raise resource limits (sanlock does)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def build_shim(state_dir: str) -> str:
    """Compile the setrlimit shim once; raises CommandError."""
    target = os.path.join(state_dir, "sanlock-setrlimit-shim.so")
    if os.path.exists(target) and \
            os.path.getmtime(target) >= os.path.getmtime(SHIM_SOURCE):
        return target
    tmp = f"{target}.{os.getpid()}"
    commands.run(["gcc", "-shared", "-fPIC", "-O2", "-o", tmp, SHIM_SOURCE,
                  "-ldl"], timeout=120)
    os.replace(tmp, target)
    return target


def use_watchdog(cfg: Config) -> tuple[bool, str]:
    """(watchdog wanted and possible, why not when it is wanted but not)."""
    if not cfg.get("sanlock", "watchdog"):
        return False, ""
    if not os.path.exists(WATCHDOG_DEVICE):
        return False, f"no {WATCHDOG_DEVICE}: running without a watchdog"
    return True, ""


def daemon_argv(*, watchdog: bool, group: str, shim: bool,
                system: bool) -> list[str]:
    """The sanlock daemon's command line. Pure."""
    argv = ["sanlock", "daemon", "-w", "1" if watchdog else "0",
            "-U", "root", "-G", group]
    if shim:
        argv += ["-l", "0"]  # no mlockall without CAP_SYS_RESOURCE
    if not system:
        argv += ["-L", "-1"]  # no /var/log/sanlock.log for a rooted host
    return argv


def _vdsm_group(user: str) -> str:
    """vdsmd connects to the socket as ``user``: the socket's group."""
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return "root"


def ensure_sanlock(cfg: Config, *, start: bool) -> StepResult:
    """Check the daemon answers, starting it when ``start`` is set."""
    run_dir = cfg.get("sanlock", "run_dir")
    if shutil.which("sanlock") is None:
        return report.fail(COMPONENT, "sanlock is not installed "
                                      "(apt-get install sanlock)")
    if running(run_dir):
        return report.ok(COMPONENT, f"sanlock already running ({run_dir})")
    if not start:
        return report.warn(COMPONENT, f"sanlock is not running ({run_dir}); "
                                      "spmStart fails until it runs")
    watchdog, note = use_watchdog(cfg)
    if watchdog and not os.path.exists(WDMD_SOCKET):
        return report.fail(COMPONENT, "[sanlock] watchdog is set but wdmd is "
                                      "not running: start wdmd, or set "
                                      "watchdog = false")
    env = _env(run_dir)
    shim = not has_cap_sys_resource()
    try:
        os.makedirs(run_dir, mode=0o755, exist_ok=True)
        if shim:
            env["LD_PRELOAD"] = build_shim(cfg.state_dir)
        argv = daemon_argv(watchdog=watchdog, group=_vdsm_group(
            cfg.get("vars", "vdsm_user")), shim=shim,
            system=run_dir == SYSTEM_RUN_DIR)
        commands.run(argv, env=env, timeout=START_TIMEOUT)
    except (OSError, commands.CommandError) as e:
        return report.fail(COMPONENT, f"cannot start sanlock: {e}")
    deadline = time.monotonic() + START_TIMEOUT
    while not running(run_dir):
        if time.monotonic() > deadline:
            return report.fail(COMPONENT, f"sanlock started but does not "
                                          f"answer on {run_dir}")
        time.sleep(0.2)
    how = ["watchdog" if watchdog else "no watchdog"]
    if shim:
        how.append("setrlimit shim: no CAP_SYS_RESOURCE")
    if note:
        how.append(note)
    log.info("started sanlock in %s (pid %s)", run_dir, daemon_pid(run_dir))
    return report.ok(COMPONENT, f"started sanlock pid {daemon_pid(run_dir)} "
                                f"({run_dir}; {', '.join(how)})", changed=True)
