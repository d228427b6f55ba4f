"""libvirt and QEMU: present, running, and if allowed configured and started.

Two kinds of instance. The system one (``qemu:///system``, configuration in
/etc/libvirt) is started with ``systemctl enable --now`` on a systemd host
and directly (``virtlogd -d``, ``libvirtd -d``) elsewhere. A private one
lives in a directory tree of ours whose etc/run/var parts are bind-mounted
over the system paths in a private mount namespace; it is reached from
outside through its socket. libvirtd always runs under the
:mod:`vds_bootstrap.subreaper` launcher when we start it directly, so the
QEMUs it leaves behind are reaped at once. Bootstrap starts no guests.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import time
import uuid
from dataclasses import dataclass

from vds_bootstrap import accounts, libvirt_conf, report
from vds_bootstrap.report import StepResult
from vdsm.common import commands

log = logging.getLogger(__name__)

SYSTEM_URI = "qemu:///system"
# What a libvirt instance owns; a private instance has its own copy of each.
CONF_DIR = "/etc/libvirt"
STATE_DIRS = ("/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt",
              "/var/log/libvirt")
QEMU_CONF = {"user": "root", "group": "root", "security_driver": "none"}
# vdsmd runs as the vdsm user, a member of the kvm group: let that group
# use the read-write socket without further authentication.
LIBVIRTD_CONF = {"unix_sock_group": "kvm", "unix_sock_rw_perms": "0770",
                 "auth_unix_rw": "none"}
QEMU_USER = "libvirt-qemu"
KVM_GROUP = "kvm"
BIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/libexec"
START_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0

# Run by sys.executable: exit 2 when the module is missing, 3 when the
# daemon does not answer, else print the library version.
_PROBE = """\
import sys
try:
    import libvirt
except ImportError as e:
    print(e, file=sys.stderr)
    sys.exit(2)
libvirt.registerErrorHandler(lambda ctx, err: None, None)
try:
    conn = libvirt.open(sys.argv[1])
except libvirt.libvirtError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
print(conn.getLibVersion())
conn.close()
"""


@dataclass(frozen=True)
class Layout:
    """Where one libvirt instance keeps its files; ``base`` None = system."""

    base: str | None = None

    def path(self, system_path: str) -> str:
        if self.base is None:
            return system_path
        return os.path.join(self.base, system_path.lstrip("/"))

    @property
    def uri(self) -> str:
        if self.base is None:
            return SYSTEM_URI
        return f"qemu+unix:///system?socket={self.path('/run/libvirt')}/libvirt-sock"

    @property
    def binds(self) -> list[tuple[str, str]]:
        if self.base is None:
            return []
        return [(self.path(p), p) for p in (CONF_DIR, *STATE_DIRS)]

    def pidfile(self, daemon: str) -> str:
        if self.base is None:
            return f"/run/{daemon}.pid"
        return self.path(f"/run/libvirt/{daemon}.pid")


def private_layout(base: str) -> Layout:
    """Raises ValueError for a tree that would hide itself when mounted."""
    base = os.path.abspath(base)
    for system_path in (CONF_DIR, *STATE_DIRS):
        if base == "/" or base == system_path or \
                base.startswith(system_path + "/"):
            raise ValueError(f"private libvirt dir {base} overlaps {system_path}")
    return Layout(base)


def find_binaries() -> tuple[dict[str, str], list[str]]:
    """(name -> path of what was found, names missing)."""
    arch = {"x86_64": "x86_64", "aarch64": "aarch64",
            "ppc64le": "ppc64", "s390x": "s390x"}.get(platform.machine(), "x86_64")
    wanted = {"libvirtd": ["libvirtd"], "virtlogd": ["virtlogd"],
              "qemu-img": ["qemu-img"],
              f"qemu-system-{arch}": [f"qemu-system-{arch}", "qemu-kvm"]}
    found, missing = {}, []
    for name, candidates in wanted.items():
        path = next(filter(None, (shutil.which(c, path=BIN_PATH)
                                  for c in candidates)), None)
        if path:
            found[name] = path
        else:
            missing.append(name)
    return found, missing


def probe(uri: str, *, timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """('running', version) | ('no-module', why) | ('down', why)."""
    try:
        res = commands.run([sys.executable, "-c", _PROBE, uri],
                           timeout=timeout, check=False)
    except commands.CommandError as e:
        return "down", e.reason
    if res.rc == 0:
        try:
            v = int(res.out.strip())
        except ValueError:
            return "running", res.out.strip()
        return "running", f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
    why = res.err.strip().splitlines()[-1] if res.err.strip() else f"rc={res.rc}"
    return ("no-module" if res.rc == 2 else "down"), why


def systemd_booted() -> bool:
    """sd_booted(3): the host runs systemd as its init."""
    return os.path.isdir("/run/systemd/system")


def _running(pidfile: str, name: str) -> bool:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == name
    except (OSError, ValueError):
        return False


def configure(layout: Layout) -> list[str]:
    """Accounts, directories and qemu.conf the daemon needs; what changed."""
    changes = []
    if accounts.ensure_group(KVM_GROUP):
        changes.append(f"group {KVM_GROUP}")
    if accounts.ensure_user(QEMU_USER, home="/var/lib/libvirt",
                            groups=[KVM_GROUP]):
        changes.append(f"user {QEMU_USER}")
    targets = [layout.path(p) for p in (CONF_DIR, *STATE_DIRS)]
    targets += [dst for _, dst in layout.binds]  # mount points on the host
    made = [p for p in targets if not os.path.isdir(p)]
    for path in made:
        os.makedirs(path, mode=0o755, exist_ok=True)
    if made:
        changes.append(f"{len(made)} directories")
    conf_dir = layout.path(CONF_DIR)
    if libvirt_conf.update(os.path.join(conf_dir, "qemu.conf"), QEMU_CONF):
        changes.append("qemu.conf")
    libvirtd_conf = dict(LIBVIRTD_CONF)
    if layout.base is not None:
        # Two libvirts on one machine must not share the host UUID
        # (migration between them is refused), and DMI may be missing.
        libvirtd_conf["host_uuid"] = str(uuid.uuid4())
    if libvirt_conf.update(os.path.join(conf_dir, "libvirtd.conf"),
                           libvirtd_conf, keep_existing={"host_uuid"}):
        changes.append("libvirtd.conf")
    return changes


def _launcher(layout: Layout, daemon: str) -> list[str]:
    argv = [sys.executable, "-m", "vds_bootstrap.subreaper", "--daemon",
            "--pidfile", layout.pidfile(f"subreaper-{daemon}"),
            "--log", layout.path(f"/var/log/libvirt/subreaper-{daemon}.log")]
    for src, dst in layout.binds:
        argv += ["--bind", f"{src}:{dst}"]
    return argv + ["--"]


def start_direct(layout: Layout, binaries: dict[str, str]) -> None:
    """virtlogd, then libvirtd under the subreaper; each with its pidfile.

    A private instance runs both in its mount namespace. Raises CommandError.
    """
    for daemon in ("virtlogd", "libvirtd"):
        pidfile = layout.pidfile(daemon)
        if _running(pidfile, daemon):
            log.info("%s already running (%s)", daemon, pidfile)
            continue
        argv = [binaries[daemon], "-d", "-p", pidfile]
        if daemon == "libvirtd" or layout.binds:
            argv = _launcher(layout, daemon) + argv
        commands.run(argv, timeout=START_TIMEOUT)
        log.info("started %s (%s)", daemon, pidfile)


def wait_running(uri: str, *, timeout: float = START_TIMEOUT) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        state, detail = probe(uri, timeout=min(PROBE_TIMEOUT, timeout))
        if state != "down" or time.monotonic() >= deadline:
            return state, detail
        time.sleep(0.2)


def check_libvirt(layout: Layout, *, start: bool) -> StepResult:
    """Binaries present and libvirtd answering; start it when allowed."""
    binaries, missing = find_binaries()
    if missing:
        return report.fail("LIBVIRT", "missing programs: " + ", ".join(missing))
    uri = layout.uri
    state, detail = probe(uri)
    if state == "no-module":
        return report.fail("LIBVIRT", f"python libvirt module not importable "
                                      f"by {sys.executable}: {detail}")
    if state == "running":
        return report.ok("LIBVIRT", f"libvirt {detail} running at {uri}")
    if not start:
        return report.warn("LIBVIRT", f"libvirtd not running at {uri} "
                                      f"({detail}); not started (--no-start-libvirt)")
    try:
        changes = configure(layout)
        if layout.base is None and systemd_booted():
            commands.run(["systemctl", "enable", "--now", "libvirtd.service"],
                         timeout=START_TIMEOUT)
        else:
            start_direct(layout, binaries)
    except (OSError, commands.CommandError) as e:
        return report.fail("LIBVIRT", f"cannot start libvirtd: {e}", changed=True)
    state, detail = wait_running(uri)
    if state != "running":
        return report.fail("LIBVIRT", f"libvirtd started but {uri} does not "
                                      f"answer: {detail}", changed=True)
    done = f"; configured {', '.join(changes)}" if changes else ""
    return report.ok("LIBVIRT", f"started libvirt {detail} at {uri}{done}",
                     changed=True)
