"""setupNetworks as a desired-state pipeline, and the start-up recovery.

One change: hook ``before_network_setup`` -> parse -> read the kernel ->
validate against the running configuration -> checkpoint (if a
connectivity check is asked) -> apply in supervdsmd (all or nothing
there) -> record the new running configuration -> wait for any client
call (connectivity check) -> commit, or roll back to the previous
configuration -> hook ``after_network_setup`` (``_fail`` on error).
A successful change and every rollback publish ``|net|host_conn|no_id``.

Changes are serialized by one lock; a call waiting for a connectivity
check holds it, so a second setupNetworks waits its turn.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Iterator

from vdsm.common.errors import ResourceUnavailable, VdsmError
from vdsm.common.events import NullPublisher, Publisher, event_id, publish_safely
from vdsm.network import desired, parse, validation
from vdsm.network.errors import BadParams, LostConnection
from vdsm.network.model import NetConfig
from vdsm.network.persistence import NetStore
from vdsm.network.validation import HostView

log = logging.getLogger(__name__)

ApplyFn = Callable[[dict[str, dict[str, Any]], dict[str, str]], Any]
POLL_INTERVAL = 0.1
LOCK_TIMEOUT = 3600.0 + 60  # longer than the longest connectivity check


class NetworkService:
    def __init__(self, *, store: NetStore, apply: ApplyFn,
                 netinfo: Callable[[], dict[str, Any]], hooks: Any,
                 last_call_time: Callable[[], float] | None,
                 default_timeout: int = 4,
                 vm_users: Callable[[str], list[str]] | None = None,
                 publisher: Publisher | None = None) -> None:
        """``apply(ifaces, release)`` runs the netlink change (supervdsm's
        network_apply); ``netinfo()`` reads the kernel's devices;
        ``last_call_time()`` is the monotonic time of the last API call."""
        self._store = store
        self._apply_fn = apply
        self._netinfo = netinfo
        self._hooks = hooks
        self._last_call_time = last_call_time
        self._default_timeout = default_timeout
        self._vm_users = vm_users
        self._publisher = publisher if publisher is not None else NullPublisher()
        self._lock = threading.Lock()
        self._running = store.load_running()

    def set_vm_users(self, vm_users: Callable[[str], list[str]] | None) -> None:
        """At start-up: who names the VMs using a network."""
        self._vm_users = vm_users

    @property
    def running(self) -> NetConfig:
        return self._running

    def setup(self, networks: dict[str, Any], bondings: dict[str, Any],
              options: dict[str, Any]) -> None:
        """The whole setupNetworks; raises a NetworkError (or HookError)."""
        data: Any = {"request": {"networks": networks, "bondings": bondings,
                                 "options": options}}
        with self._locked():
            try:
                data = self._hooks.before_network_setup(data)
                if not isinstance(data, dict) or \
                        not isinstance(data.get("request"), dict):
                    raise BadParams("before_network_setup hooks left no "
                                    "request")
                self._setup(data["request"])
            except VdsmError as e:
                failed = dict(data) if isinstance(data, dict) else {}
                self._hooks.after_network_setup_fail(
                    {**failed, "error": e.message})
                raise
            self._hooks.after_network_setup(data)
            self._host_changed("setupNetworks")

    def _setup(self, raw: dict[str, Any]) -> None:
        request = parse.parse_request(raw.get("networks") or {},
                                      raw.get("bondings") or {},
                                      raw.get("options") or {})
        check = request.options.connectivity_check
        if check and self._last_call_time is None:
            raise BadParams("this agent cannot check connectivity")
        old = self._running
        new = validation.validate(
            request, old, HostView.from_netinfo(self._netinfo()),
            vm_users=self._vm_users)
        if check:
            self._store.save_checkpoint(old)
        try:
            self._apply(old, new)
        except BaseException:
            if check:
                self._store.clear_checkpoint()
            raise
        self._commit(new)
        if check:
            timeout = request.options.connectivity_timeout
            if timeout is None:
                timeout = self._default_timeout
            self._confirm_or_roll_back(old, new, timeout)
        if request.options.commit_on_success:
            self.set_safe()

    def _confirm_or_roll_back(self, old: NetConfig, new: NetConfig,
                              timeout: float) -> None:
        since = time.monotonic()
        if self._client_seen(since, timeout):
            log.info("a client reached the agent after the network change: "
                     "kept")
            self._store.clear_checkpoint()
            return
        reason = (f"no client reached the agent within {timeout:g} s after "
                  "the network change")
        log.warning("%s: rolling back to the previous configuration", reason)
        try:
            self._apply(new, old)
        except VdsmError as e:
            log.error("rolling back after the lost connection failed (%s); "
                      "the change stays recorded as unconfirmed and is rolled "
                      "back at the next agent start", e)
            raise
        self._commit(old)
        self._store.clear_checkpoint()
        self._host_changed("rollback")
        raise LostConnection(f"{reason}; rolled back to the previous "
                             "configuration")

    def _host_changed(self, reason: str) -> None:
        publish_safely(self._publisher, event_id("net", "host_conn"),
                       {"reason": reason,
                        "networks": sorted(self._running.networks)})

    def _client_seen(self, since: float, timeout: float) -> bool:
        assert self._last_call_time is not None
        deadline = since + timeout
        while True:
            if self._last_call_time() > since:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(POLL_INTERVAL, left))

    def set_safe(self) -> None:
        """Mark the running configuration as the one a boot restores."""
        self._store.save_safe(self._running)
        log.info("network configuration marked safe: %s",
                 sorted(self._running.networks))

    def recover(self, *, restore_on_start: bool) -> str:
        """At agent start: undo a change left unconfirmed by a crash, or
        after a boot restore the safe configuration. Returns what it did."""
        with self._locked():
            checkpoint = self._store.load_checkpoint()
            if checkpoint is not None:
                log.warning("found a network change never confirmed by a "
                            "client (the agent stopped during its "
                            "connectivity check): rolling it back")
                self._replace(checkpoint)
                self._store.clear_checkpoint()
                self._host_changed("rollback")
                return "rolled back an unconfirmed change"
            if not restore_on_start or self._store.restored():
                if any(n.bootproto == "dhcp"
                       for n in self._running.networks.values()):
                    # DHCP clients die with supervdsmd's cgroup or a kill;
                    # applying the running configuration restarts them.
                    self._replace(self._running)
                    return "checked the DHCP clients"
                return "nothing to do"
            safe = self._store.load_safe()
            if safe is not None:
                self._replace(self._usable(safe))
                log.info("safe network configuration restored: %s",
                         sorted(safe.networks))
            self._store.mark_restored()
            return "restored the safe configuration" if safe else \
                "no safe configuration"

    def restore_safe(self) -> bool:
        """Apply the safe configuration now; False if there is none."""
        with self._locked():
            safe = self._store.load_safe()
            if safe is None:
                return False
            self._replace(self._usable(safe))
            self._store.clear_checkpoint()
            self._store.mark_restored()
            return True

    def clear(self) -> None:
        """Remove every configured network and forget all configurations."""
        with self._locked():
            self._replace(NetConfig())
            self._store.clear()

    def _replace(self, target: NetConfig) -> None:
        self._apply(self._running, target)
        self._commit(target)

    def _usable(self, config: NetConfig) -> NetConfig:
        """``config`` without the networks and bonds whose NICs are gone."""
        nics = HostView.from_netinfo(self._netinfo()).nics
        bonds = {n: b for n, b in config.bonds.items()
                 if set(b.nics) <= nics}
        networks = {n: net for n, net in config.networks.items()
                    if (net.nic is None or net.nic in nics)
                    and (net.bonding is None or net.bonding in bonds)}
        for name in sorted(set(config.networks) - set(networks)) + \
                sorted(set(config.bonds) - set(bonds)):
            log.warning("not restoring %s: its NICs are missing", name)
        return NetConfig(networks, bonds)

    def _apply(self, old: NetConfig, new: NetConfig) -> None:
        before, after = desired.build(old), desired.build(new)
        result = self._apply_fn(desired.to_wire(after),
                                desired.released(before, after))
        log.info("network configuration applied: %s", result)

    def _commit(self, config: NetConfig) -> None:
        self._store.save_running(config)
        self._running = config

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=LOCK_TIMEOUT):
            raise ResourceUnavailable("another network change is in progress")
        try:
            yield
        finally:
            self._lock.release()
