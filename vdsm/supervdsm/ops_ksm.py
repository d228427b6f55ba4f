"""Kernel same-page merging (KSM) tuning, written to sysfs as root.

The memory overcommit policy in vdsmd decides when KSM should run and how
hard it should scan; only root may write /sys/kernel/mm/ksm.
"""

from __future__ import annotations

import logging
import os

from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm.errors import KSMUpdateFailed
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

KSM_DIR = "/sys/kernel/mm/ksm"
MAX_PAGES_TO_SCAN = 100_000
MAX_SLEEP_MILLISECS = 60_000


@operation
def set_ksm(ctx: OpContext, *, run: bool, pages_to_scan: int,
            sleep_millisecs: int | None = None) -> dict[str, int]:
    """Start or stop KSM and set its scan rate; return the values now in effect.

    ``pages_to_scan`` (pages per wake-up) must be 1..100000 and
    ``sleep_millisecs`` (pause between wake-ups), when given, 1..60000.
    Raises KSMUpdateFailed when the kernel has no KSM or refuses a value.
    """
    if not 1 <= pages_to_scan <= MAX_PAGES_TO_SCAN:
        raise InvalidParameter(
            f"pages_to_scan must be 1..{MAX_PAGES_TO_SCAN}, got {pages_to_scan}")
    if sleep_millisecs is not None and \
            not 1 <= sleep_millisecs <= MAX_SLEEP_MILLISECS:
        raise InvalidParameter(
            f"sleep_millisecs must be 1..{MAX_SLEEP_MILLISECS}, "
            f"got {sleep_millisecs}")
    if not os.path.isdir(KSM_DIR):
        raise KSMUpdateFailed(f"KSM is not available ({KSM_DIR} is missing)")
    # Set the rate before starting, so KSM never runs with the old rate.
    values = {"pages_to_scan": pages_to_scan}
    if sleep_millisecs is not None:
        values["sleep_millisecs"] = sleep_millisecs
    values["run"] = 1 if run else 0
    for name, value in values.items():
        _write(name, value)
    return {name: _read(name) for name in values}


def _write(name: str, value: int) -> None:
    path = os.path.join(KSM_DIR, name)
    try:
        with open(path, "w") as f:
            f.write(f"{value}\n")
    except OSError as e:
        raise KSMUpdateFailed(f"cannot write {value} to {path}: {e.strerror}") \
            from None
    log.debug("%s = %s", path, value)


def _read(name: str) -> int:
    path = os.path.join(KSM_DIR, name)
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError) as e:
        raise KSMUpdateFailed(f"cannot read {path}: {e}") from None


# Limits of tune_ksm's values: run 0 stop, 1 run, 2 stop and unmerge.
KSM_RANGES = {"run": (0, 2), "merge_across_nodes": (0, 1),
              "pages_to_scan": (1, MAX_PAGES_TO_SCAN),
              "sleep_millisecs": (1, MAX_SLEEP_MILLISECS)}
# merge_across_nodes first (the kernel takes it only while nothing is
# merged), the rate before run so KSM never starts at the old rate.
KSM_ORDER = ("merge_across_nodes", "pages_to_scan", "sleep_millisecs", "run")


@operation
def tune_ksm(ctx: OpContext, *, run: int | None = None,
             pages_to_scan: int | None = None,
             sleep_millisecs: int | None = None,
             merge_across_nodes: int | None = None) -> dict[str, int]:
    """Write the given KSM settings (only these four files); return the
    values now in effect. The policy engine and Host.setKsmTune use it.

    Every value is checked before anything is written (InvalidParameter);
    KSMUpdateFailed when the kernel has no KSM or refuses a value.
    """
    given = {"run": run, "pages_to_scan": pages_to_scan,
             "sleep_millisecs": sleep_millisecs,
             "merge_across_nodes": merge_across_nodes}
    values = {k: v for k, v in given.items() if v is not None}
    if not values:
        raise InvalidParameter("tune_ksm: no value given")
    for name, value in values.items():
        low, high = KSM_RANGES[name]
        if not low <= value <= high:
            raise InvalidParameter(f"{name} must be {low}..{high}, got {value}")
    if not os.path.isdir(KSM_DIR):
        raise KSMUpdateFailed(f"KSM is not available ({KSM_DIR} is missing)")
    for name in KSM_ORDER:
        if name in values:
            _write(name, values[name])
    return {name: _read(name) for name in values}
