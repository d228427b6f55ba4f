"""The running, safe and checkpoint network configurations on disk.

Classic unified-persistence layout, one JSON file per entry::

    <state_dir>/staging/netconf/{nets,bonds}/<name>      running
    <state_dir>/persistence/netconf/{nets,bonds}/<name>  safe (setSafeNetworkConfig)
    <state_dir>/staging/netconf.checkpoint/...           before an unconfirmed change
    <run_dir>/nets_restored                              restored since boot

The running configuration is what the agent last applied; the safe one is
what a boot restores. A checkpoint exists only while a change waits for
its connectivity check: finding one at start means the agent died
waiting, and the change is rolled back. ``run_dir`` is a tmpfs, so the
marker's absence means "first start since boot". Each whole
configuration is replaced at once (written beside, then renamed).
Not thread-safe: the network service serializes its writes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

from vdsm.common.errors import InvalidConfiguration, VdsmError
from vdsm.network import parse
from vdsm.network.model import NetConfig

log = logging.getLogger(__name__)

_KINDS = (("nets", "networks"), ("bonds", "bondings"))


class NetStore:
    def __init__(self, state_dir: str, run_dir: str) -> None:
        self.state_dir = state_dir
        self.running_dir = os.path.join(state_dir, "staging", "netconf")
        self.safe_dir = os.path.join(state_dir, "persistence", "netconf")
        self.checkpoint_dir = os.path.join(state_dir, "staging",
                                           "netconf.checkpoint")
        self.marker = os.path.join(run_dir, "nets_restored")

    def load_running(self) -> NetConfig:
        return _read_tree(self.running_dir) or NetConfig()

    def save_running(self, config: NetConfig) -> None:
        _write_tree(self.running_dir, config, owner_of=self.state_dir)

    def load_safe(self) -> NetConfig | None:
        """The safe configuration, or None if none was ever marked."""
        return _read_tree(self.safe_dir)

    def save_safe(self, config: NetConfig) -> None:
        _write_tree(self.safe_dir, config, owner_of=self.state_dir)

    def load_checkpoint(self) -> NetConfig | None:
        return _read_tree(self.checkpoint_dir)

    def save_checkpoint(self, config: NetConfig) -> None:
        _write_tree(self.checkpoint_dir, config, owner_of=self.state_dir)

    def clear_checkpoint(self) -> None:
        _remove_tree(self.checkpoint_dir)

    def clear(self) -> None:
        """Forget every configuration (the tool's ``clear``)."""
        for path in (self.running_dir, self.safe_dir, self.checkpoint_dir):
            _remove_tree(path)

    def restored(self) -> bool:
        return os.path.exists(self.marker)

    def mark_restored(self) -> None:
        os.makedirs(os.path.dirname(self.marker), exist_ok=True)
        with open(self.marker, "w") as f:
            f.write(f"{os.getpid()}\n")
        _match_owner(self.marker, os.path.dirname(self.marker))


def _read_tree(path: str) -> NetConfig | None:
    """Read a configuration directory; None when there is none.

    A configuration caught between the two renames of a replacement is
    found under its ``.old`` name. Raises NetworkError for a corrupt
    entry (a hand-edited file): InvalidConfiguration, naming it; better
    refuse than apply a guess.
    """
    if not os.path.isdir(path):
        if not os.path.isdir(path + ".old"):
            return None
        path += ".old"
    data: dict[str, dict] = {"networks": {}, "bondings": {}}
    for subdir, key in _KINDS:
        folder = os.path.join(path, subdir)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            try:
                with open(os.path.join(folder, name)) as f:
                    data[key][name] = json.load(f)
            except ValueError as e:
                raise InvalidConfiguration(
                    f"corrupt network configuration {folder}/{name}: {e}") \
                    from None
    try:
        return parse.config_from_dict(data)
    except VdsmError as e:
        raise InvalidConfiguration(
            f"bad network configuration in {path}: {e.message}") from None


def _write_tree(path: str, config: NetConfig, *, owner_of: str) -> None:
    new, old = path + ".new", path + ".old"
    _remove_tree(new)
    stored = config.to_dict()
    for subdir, key in _KINDS:
        folder = os.path.join(new, subdir)
        os.makedirs(folder)
        for name, attrs in stored[key].items():
            with open(os.path.join(folder, name), "w") as f:
                json.dump(attrs, f, sort_keys=True, indent=1)
                f.flush()
                os.fsync(f.fileno())
    _remove_tree(old)
    if os.path.isdir(path):
        os.rename(path, old)
    os.rename(new, path)
    _remove_tree(old)
    _match_owner(path, owner_of)
    log.debug("network configuration written to %s: %s", path, stored)


def _remove_tree(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)


def _match_owner(path: str, reference: str) -> None:
    """Files root writes (the tool) must stay writable by the agent user."""
    if os.geteuid() != 0:
        return
    st = os.stat(reference)
    for top, dirs, files in os.walk(path):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            os.chown(name, st.st_uid, st.st_gid)
    if os.path.isfile(path):
        os.chown(path, st.st_uid, st.st_gid)
