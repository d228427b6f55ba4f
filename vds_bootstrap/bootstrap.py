"""vds_bootstrap: make this machine a host the agent can run on.

    vds_bootstrap [--root DIR] [--config FILE] [--management-ip IP]
                  [--management-port N] [--no-ssl] [--client NAME]...
                  [--hostname NAME] [--[no-]start-libvirt] [--libvirt-dir DIR]
                  [--[no-]start-sanlock] [--json] [-v]

Steps, in order: OS, CPU, LIBVIRT, USER, DIRS, PKI, CONFIG, SANLOCK (the
lease daemon the SPM needs: started when not running), UUID, then a
RELEASE summary. Every step is idempotent: a second run changes nothing
and reports "already configured".

Output: stdout carries one classic ``<BSTRAP component='NAME'
status='OK|WARN|FAIL' message='...'/>`` line per step (attribute-escaped),
or with ``--json`` one JSON list of {component, status, message, changed}.
stderr carries the same results as readable text. The exit status is 1
when any step FAILed (WARN does not fail: e.g. no KVM means TCG), 2 on a
usage error, else 0.

``--root DIR`` keeps the whole host under DIR (config DIR/etc/vdsm/vdsm.conf
with vdsm.config.rooted(DIR) paths, uuid DIR/etc/vdsm/vdsm.id); the vdsm
user and libvirt stay system-wide. ``--libvirt-dir DIR`` configures and
starts a private libvirt in DIR instead of the system one and points the
agent's libvirt_uri at it.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import sys
from typing import Any, Sequence

from vds_bootstrap import (
    checks,
    host_config,
    host_setup,
    libvirt_setup,
    pki_setup,
    report,
    sanlock_setup,
)
from vds_bootstrap.report import StepResult
from vdsm import config
from vdsm.common.errors import InvalidConfiguration, InvalidParameter

log = logging.getLogger(__name__)

DEFAULT_CLIENTS = ("engine", "admin")
# Client certs are certs/<name>cert.pem: 'vdsm' would overwrite the host's.
RESERVED_NAMES = {"vdsm", "ca", "host"}
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_loopback(address: str | None) -> bool:
    try:
        return bool(address) and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def default_config_file(root: str) -> str:
    if os.path.abspath(root) == "/":
        return config.DEFAULT_CONF
    return os.path.join(root, "etc/vdsm/vdsm.conf")


def _desired(root: str, *, management_ip: str | None,
             management_port: int | None, ssl: bool | None,
             libvirt_uri: str | None) -> dict[tuple[str, str], Any]:
    values = config.rooted(root)
    given = {("addresses", "management_ip"): management_ip,
             ("addresses", "management_port"): management_port,
             ("vars", "ssl"): ssl, ("vars", "libvirt_uri"): libvirt_uri}
    values.update({k: v for k, v in given.items() if v is not None})
    return values


def _check_plan(config_plan: host_config.ConfigPlan) -> None:
    cfg = config_plan.config
    ip = cfg.get("addresses", "management_ip")
    if not cfg.get("vars", "ssl") and not is_loopback(ip):
        raise InvalidConfiguration(
            f"ssl is off but management_ip {ip or '(all)'} is not loopback")


def bootstrap(root: str = "/", *, config_file: str | None = None,
              management_ip: str | None = None,
              management_port: int | None = None, ssl: bool | None = None,
              clients: Sequence[str] = DEFAULT_CLIENTS,
              hostname: str | None = None, start_libvirt: bool = True,
              libvirt_dir: str | None = None,
              start_sanlock: bool = True) -> list[StepResult]:
    """Run every step; options left None keep what the config file has.

    Raises InvalidParameter for contradictory options (ssl off on a
    non-loopback address, a private libvirt dir over system paths).
    Everything found on the host is reported as a step result instead.
    """
    root = os.path.abspath(root)
    if ssl is False and not is_loopback(management_ip):
        raise InvalidParameter("ssl can be turned off only with a loopback "
                               "management ip")
    for client in clients:
        if not _CLIENT_NAME.fullmatch(client) or client in RESERVED_NAMES:
            raise InvalidParameter(f"bad client certificate name {client!r}")
    try:
        layout = (libvirt_setup.private_layout(libvirt_dir) if libvirt_dir
                  else libvirt_setup.Layout())
    except ValueError as e:
        raise InvalidParameter(str(e)) from None
    config_file = os.path.abspath(config_file or default_config_file(root))
    desired = _desired(root, management_ip=management_ip,
                       management_port=management_port, ssl=ssl,
                       libvirt_uri=layout.uri if libvirt_dir else None)
    cpu = checks.check_cpu()
    if cpu.status != "OK":
        # No usable KVM: guests must be emulated (TCG), or they fail to
        # start (or, on some kernels, hang instead of booting).
        desired[("vars", "domain_type")] = "qemu"

    results = [checks.check_os(), cpu,
               libvirt_setup.check_libvirt(layout, start=start_libvirt)]
    try:
        config_plan = host_config.plan(config_file, desired)
        _check_plan(config_plan)
    except InvalidConfiguration as e:
        user = config.Config().get("vars", "vdsm_user")
        results.append(host_setup.ensure_vdsm_user(user))
        results.append(report.fail("CONFIG", f"{config_file}: {e.message}"))
        results.append(report.warn("SANLOCK", "not checked: no valid "
                                              "configuration"))
    else:
        cfg = config_plan.config
        user = cfg.get("vars", "vdsm_user")
        results.append(host_setup.ensure_vdsm_user(user))
        results.append(host_setup.ensure_dirs(cfg, user))
        results.append(pki_setup.ensure_pki(
            cfg.pki_dir, hostname=hostname, clients=clients,
            account=host_setup.lookup_account(user)))
        results.append(host_config.write_config(config_plan))
        results.append(sanlock_setup.ensure_sanlock(
            config_plan.config, start=start_sanlock))
    uuid_file = os.path.join(os.path.dirname(default_config_file(root)),
                             "vdsm.id")
    results.append(host_setup.ensure_host_uuid(uuid_file, system=root == "/"))
    return results


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vds_bootstrap", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="/",
                   help="keep the host's files under this directory")
    p.add_argument("--config", help="config file to write "
                                    "(default ROOT/etc/vdsm/vdsm.conf)")
    p.add_argument("--management-ip", help="address the API listens on")
    p.add_argument("--management-port", type=int, help="TCP port of the API")
    p.add_argument("--no-ssl", dest="ssl", action="store_false", default=None,
                   help="plain XML-RPC; only with a loopback --management-ip")
    p.add_argument("--client", action="append", dest="clients",
                   help="client certificate to issue (repeatable; "
                        f"default: {', '.join(DEFAULT_CLIENTS)})")
    p.add_argument("--hostname", help="host certificate name (default: FQDN)")
    p.add_argument("--start-libvirt", action=argparse.BooleanOptionalAction,
                   default=True, help="configure and start libvirtd if it is "
                                      "not running (default: yes)")
    p.add_argument("--libvirt-dir", help="use a private libvirt kept in DIR")
    p.add_argument("--start-sanlock", action=argparse.BooleanOptionalAction,
                   default=True, help="start the sanlock daemon (in [sanlock] "
                                      "run_dir) if it is not running "
                                      "(default: yes)")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout instead of BSTRAP lines")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.management_port is not None and not 0 < args.management_port < 65536:
        parser.error("--management-port must be 1-65535")
    try:
        results = bootstrap(
            args.root, config_file=args.config,
            management_ip=args.management_ip,
            management_port=args.management_port, ssl=args.ssl,
            clients=tuple(dict.fromkeys(args.clients or DEFAULT_CLIENTS)),
            hostname=args.hostname, start_libvirt=args.start_libvirt,
            libvirt_dir=args.libvirt_dir, start_sanlock=args.start_sanlock)
    except InvalidParameter as e:
        parser.error(e.message)
    results.append(report.summary(results))
    if args.json:
        print(report.to_json(results))
    for result in results:
        if not args.json:
            print(report.bstrap_line(result))
        print(report.text_line(result), file=sys.stderr)
    sys.stdout.flush()
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
