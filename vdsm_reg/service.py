"""vdsm-reg entry point: ``python -m vdsm_reg [--config FILE] [--force]``.

Exit status: 0 registered (or nothing to do), 1 refused or a certificate
that must not be installed, 2 gave up after retry_timeout.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vdsm import config as vdsm_config
from vdsm.common.errors import InvalidConfiguration
from vdsm_reg import register
from vdsm_reg.certs import CertificateError
from vdsm_reg.exchange import Refused

log = logging.getLogger("vdsm_reg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vdsm-reg", description=__doc__)
    parser.add_argument("--config", help="vdsm.conf to read")
    parser.add_argument("--force", action="store_true",
                        help="register again even if already registered")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = vdsm_config.load(args.config)
    except InvalidConfiguration as e:
        log.error("%s", e)
        return 1
    settings = register.Settings.from_config(config)
    if not settings.url:
        log.info("no [registration] manager_url configured: nothing to do")
        return 0
    if not args.force and register.already_registered(config, settings):
        log.info("already registered with %s", settings.url)
        return 0
    try:
        register.register(config, settings)
    except (Refused, CertificateError) as e:
        log.error("registration with %s failed: %s", settings.url, e)
        return 1
    except register.GaveUp as e:
        log.error("%s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
