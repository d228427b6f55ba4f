"""The agent's configuration file: planned once, written only on change.

The plan is what the file holds now (an administrator's settings are
kept) with bootstrap's values on top: the paths of the chosen root and any
option given on the command line. Directories and PKI are made from the
plan; the file is written last and only when the plan differs from it.
"""

from __future__ import annotations

import configparser
import logging
import os
from dataclasses import dataclass
from typing import Any

from vds_bootstrap import report
from vds_bootstrap.report import StepResult
from vdsm import config
from vdsm.common.errors import InvalidConfiguration

log = logging.getLogger(__name__)

Values = dict[tuple[str, str], Any]


@dataclass(frozen=True)
class ConfigPlan:
    path: str
    current: Values  # as the file holds them, coerced; {} when absent
    values: Values  # what the file should hold

    @property
    def config(self) -> config.Config:
        """The effective configuration once the plan is written."""
        return config.Config(values=self.values)

    @property
    def up_to_date(self) -> bool:
        return os.path.exists(self.path) and self.current == self.values


def read_file(path: str) -> Values:
    """Options set in one file (not conf.d), coerced to their types.

    Raises InvalidConfiguration on a syntax error, an unknown option or a
    bad value.
    """
    if not os.path.exists(path):
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as e:
        raise InvalidConfiguration(f"{path}: {e}") from None
    coerced = config.Config()
    values: Values = {}
    for section in parser.sections():
        for key, raw in parser.items(section):
            coerced.set(section, key, raw)
            values[(section, key)] = coerced.get(section, key)
    return values


def plan(path: str, desired: Values) -> ConfigPlan:
    """Raises InvalidConfiguration when the file or ``desired`` is invalid."""
    current = read_file(path)
    coerced = config.Config()
    values = dict(current)
    for (section, key), value in desired.items():
        coerced.set(section, key, value)
        values[(section, key)] = coerced.get(section, key)
    return ConfigPlan(path, current, values)


def write_config(config_plan: ConfigPlan) -> StepResult:
    """Write the file unless it already holds the plan."""
    if config_plan.up_to_date:
        return report.ok("CONFIG", f"already configured: {config_plan.path}")
    changed = sorted(f"[{s}] {k}" for (s, k), v in config_plan.values.items()
                     if config_plan.current.get((s, k)) != v)
    try:
        config.write(config_plan.path, config_plan.values)
    except (OSError, InvalidConfiguration) as e:
        return report.fail("CONFIG", f"cannot write {config_plan.path}: {e}")
    log.info("wrote %s: %s", config_plan.path, ", ".join(changed))
    verb = "updated" if config_plan.current else "wrote"
    return report.ok("CONFIG", f"{verb} {config_plan.path} ({len(changed)} "
                               "options set)", changed=True)
