"""A stand-in for busybox udhcpc whose daemon is slow to show up.

    python slow_udhcpc.py --lease-on DEV[,DEV] --delay S udhcpc \\
        -i DEV -p PIDFILE -s SCRIPT ...

It follows udhcpc's order of events with ``-n``: write the pid file, set
the lease through the event script ("bound", a TEST-NET address), fork,
the parent exits 0 at once, the child rewrites the pid file with its own
pid, here only after ``--delay`` seconds (what a loaded machine or a slow
fork does to the real client, made certain). Devices not in
``--lease-on`` get no lease: exit 1, as udhcpc -n does. On SIGTERM the
daemon runs "deconfig" and exits; it exits by itself after 300 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def _write_pid(path: str) -> None:
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


def _script(script: str, event: str, device: str) -> None:
    env = dict(os.environ, interface=device, ip="192.0.2.77", mask="24",
               lease="600")
    subprocess.run([script, event], env=env, timeout=30, check=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lease-on", default="")
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("name")
    p.add_argument("-i", dest="device", required=True)
    p.add_argument("-p", dest="pidfile", required=True)
    p.add_argument("-s", dest="script", required=True)
    args, _ = p.parse_known_args()
    _write_pid(args.pidfile)
    if args.device not in args.lease_on.split(","):
        return 1
    _script(args.script, "bound", args.device)
    if os.fork():
        os._exit(0)
    os.setsid()

    def deconfig(signum: int, frame: object) -> None:
        _script(args.script, "deconfig", args.device)
        os._exit(0)

    signal.signal(signal.SIGTERM, deconfig)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    time.sleep(args.delay)
    _write_pid(args.pidfile)
    time.sleep(300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
