"""Restore, clear or show the host network configuration, as root.

::

    python3 -m vdsm.network.tool [--config FILE] restore [--force]
    python3 -m vdsm.network.tool [--config FILE] clear
    python3 -m vdsm.network.tool [--config FILE] show

``restore`` does what the agent's first start after a boot does (roll
back a change left unconfirmed, else apply the safe configuration), once
per boot unless ``--force``; a boot unit may run it before vdsmd so the
bridges exist before libvirt starts guests. ``clear`` removes every
network the agent configured and forgets the running and safe
configurations. Both apply over netlink directly (no supervdsmd needed)
in the configured namespace; run them while vdsmd is stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from vdsm import config as vdsm_config
from vdsm.common.errors import VdsmError
from vdsm.network import desired, kernel, netapply
from vdsm.network.dhcp import DhcpClients
from vdsm.network.persistence import NetStore
from vdsm.network.service import NetworkService
from vdsm.network.subsystem import read_devices

log = logging.getLogger("vdsm.network.tool")


class _NoHooks:
    """The tool runs no network setup hooks."""

    def __getattr__(self, name: str) -> Any:
        return lambda data=None, **kw: data


def service_for(config: vdsm_config.Config) -> NetworkService:
    netns = config.get("network", "netns") or None

    dhcp = DhcpClients(config.run_dir, netns=netns,
                       timeout=config.get("network", "dhcp_timeout"))

    def apply(ifaces: dict[str, Any], release: dict[str, str]) -> Any:
        with kernel.open_netlink(netns) as ipr:
            return netapply.apply(ipr, desired.from_wire(ifaces), release,
                                  dhcp=dhcp)

    return NetworkService(
        store=NetStore(config.state_dir, config.run_dir), apply=apply,
        netinfo=lambda: read_devices(netns),
        hooks=_NoHooks(), last_call_time=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vdsm-network", description=__doc__
                                     .split("\n")[0])
    parser.add_argument("--config", help="vdsm.conf to read")
    sub = parser.add_subparsers(dest="command", required=True)
    restore = sub.add_parser("restore", help="restore the safe configuration")
    restore.add_argument("--force", action="store_true",
                         help="even if already restored since boot")
    sub.add_parser("clear", help="remove all networks, forget the configs")
    sub.add_parser("show", help="print the running and safe configurations")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = vdsm_config.load(args.config)
        store = NetStore(config.state_dir, config.run_dir)
        if args.command == "show":
            safe = store.load_safe()
            json.dump({"running": store.load_running().to_dict(),
                       "safe": safe.to_dict() if safe else None,
                       "restored_since_boot": store.restored()},
                      sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
            return 0
        service = service_for(config)
        if args.command == "clear":
            service.clear()
            log.info("all networks removed, configurations forgotten")
        elif args.force:
            done = "restored" if service.restore_safe() else \
                "no safe configuration"
            log.info("%s", done)
        else:
            log.info("%s", service.recover(restore_on_start=True))
    except (VdsmError, OSError) as e:
        log.error("vdsm-network %s failed: %s", args.command, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
