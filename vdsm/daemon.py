"""vdsmd: the API daemon process.

Order matters: read the configuration, open the log and the API socket
(and read the TLS key) while still root, then drop to the unprivileged
``vdsm`` user, then start the services. Privileged work is asked of
supervdsmd from then on. SIGTERM and SIGINT stop the daemon cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import resource
import signal
import stat
import sys
import threading

from vdsm import __version__
from vdsm import config as vdsm_config
from vdsm.agent import Agent
from vdsm.common import hooks, logutils, privileges, spawn
from vdsm.common.errors import VdsmError

log = logging.getLogger("vdsm.daemon")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vdsmd", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--config", help="configuration file (default: "
                        "$VDSM_CONF or /etc/vdsm/vdsm.conf)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective configuration and exit")
    parser.add_argument("--version", action="version", version=__version__)
    return parser.parse_args(argv)


def _prepare_dirs(config: vdsm_config.Config, user: str | None) -> None:
    """Create the agent's directories, owned by the user it will run as.

    Whatever root left in them (a task persisted by an earlier root run, an
    old log) is handed over too, so the unprivileged daemon can go on with it.
    """
    for path in (config.run_dir, config.state_dir, config.log_dir):
        os.makedirs(path, exist_ok=True)
        if user is None:
            continue
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                full = os.path.join(top, name)
                st = os.lstat(full)
                if st.st_uid != entry.pw_uid and not stat.S_ISLNK(st.st_mode):
                    os.chown(full, entry.pw_uid, entry.pw_gid)


def _drop_to(config: vdsm_config.Config) -> str | None:
    """The user to become, or None to keep the current identity."""
    if os.geteuid() != 0 or not config.get("vars", "drop_privileges"):
        return None
    user = config.get("vars", "vdsm_user")
    if not privileges.ensure_user(user):
        raise VdsmError(f"user {user!r} does not exist; run vds_bootstrap "
                        "or set drop_privileges = false")
    return user


def _raise_fd_limit(config: vdsm_config.Config) -> None:
    """Room for every API connection the listener may hold (plus files):
    raise the soft descriptor limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = config.get("rpc", "max_connections") * 2 + 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        log.info("open files limit raised from %d to %d", soft, want)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = vdsm_config.load(args.config)
    except VdsmError as e:
        print(f"vdsmd: {e.message}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(config.format())
        return 0
    logutils.setup(config.log_dir, "vdsm.log", config.get("logging", "level"))
    log.info("vdsm %s starting (pid %d), config files: %s", __version__,
             os.getpid(), ", ".join(config.files) or "(defaults)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        _raise_fd_limit(config)
        user = _drop_to(config)
        _prepare_dirs(config, user)
        # helpers an earlier vdsmd left must be gone before any task recovery
        spawn.set_tag(config.run_dir)
        spawn.reap_leftovers(config.run_dir)
        agent = Agent(config, revoke_signal=signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(
            target=agent.leases_revoked, name="leases-revoked", daemon=True).start())
        agent.bind()
        pidfile = os.path.join(config.run_dir, "vdsmd.pid")
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
        if user is not None:
            os.chown(pidfile, pwd.getpwnam(user).pw_uid, -1)
            privileges.drop_privileges(user)
            log.info("running as %s (uid %d)", user, os.geteuid())
        hooks.run_hook(config.hooks_dir, "before_vdsm_start",
                       timeout=config.get("vars", "hook_timeout"),
                       raise_on_error=False)
        agent.start()
    except (VdsmError, OSError) as e:
        log.error("vdsmd cannot start: %s", e)
        return 1
    assert agent.server is not None
    agent.server.serve_in_thread()
    log.info("vdsm ready")
    while not stop.wait(1.0):
        pass
    log.info("vdsm stopping")
    agent.stop()
    hooks.run_hook(config.hooks_dir, "after_vdsm_stop",
                   timeout=config.get("vars", "hook_timeout"),
                   raise_on_error=False)
    try:
        os.unlink(pidfile)
    except OSError as e:
        log.warning("could not remove %s: %s", pidfile, e)
    log.info("vdsm stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
