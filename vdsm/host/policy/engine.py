"""One policy, run every interval on fresh figures; its wishes applied.

A cycle reads the host's figures and the guests' records, runs the policy
(:mod:`interp`) and then applies what it asked for that differs from the
current state: KSM through supervdsm, balloon targets and I/O limits
through the guests seam. A change is logged once, when it is made (not on
every cycle); a failing policy or action is logged when its message
changes. ``set_policy`` checks a new text completely before it replaces
the old one, so a refused text leaves the old policy running. An accepted
policy and parameters are kept on disk (:mod:`store`) and loaded at
start; the figures of the last cycles are kept for ``StatAvg``
(:mod:`history`).

Thread-safe: the verbs may call in while the cycle thread runs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable, Protocol

from vdsm.common.errors import MOMPolicyUpdateFailed, VdsmError
from vdsm.host.policy import entities, hostfigures, lang, rules
from vdsm.host.policy.history import History
from vdsm.host.policy.interp import Interpreter, PolicyRuntimeError, check
from vdsm.host.policy.lang import Node
from vdsm.host.policy.store import PolicyStore

log = logging.getLogger(__name__)

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
IO_CHOICES = ("guaranteed", "maximum")


class Guests(Protocol):
    """The VMs, as the policy sees them (the virt subsystem's side)."""

    def records(self) -> list[dict[str, Any]]:
        """Figures per running VM: id, balloon_cur/max/min/target (KiB),
        mem_used/mem_unused (KiB or None), io_policy, io_choice,
        vcpu_limit (percent or None), vcpu_quota, vcpu_period (µs),
        vcpu_count."""

    def set_balloon_target(self, vm_id: str, kib: int) -> None: ...

    def set_io_choice(self, vm_id: str, choice: str) -> None: ...

    def set_cpu_tune(self, vm_id: str, quota: int, period: int) -> None: ...


def compile_policy(text: str) -> list[Node]:
    """The policy text parsed and checked (PolicySyntaxError with the line
    and reason): what is accepted runs every cycle unchecked."""
    program = lang.parse(text)
    check(program)
    return program


class PolicyEngine:
    def __init__(self, *, interval: float, tune_ksm: Callable[..., Any],
                 guests: Guests | None = None,
                 read_host: Callable[[], dict[str, Any]] = hostfigures.read,
                 store: PolicyStore | None = None) -> None:
        """``tune_ksm(**values)`` writes KSM settings (supervdsm's op);
        ``store`` keeps the accepted policy and parameters (None: memory
        only)."""
        if interval <= 0:
            raise ValueError(f"interval must be positive: {interval}")
        self.interval = interval
        self.guests = guests
        self._tune_ksm = tune_ksm
        self._read_host = read_host
        self._lock = threading.Lock()
        self._text = rules.DEFAULT_POLICY
        self._program = compile_policy(self._text)  # the default must pass
        self._params: dict[str, Any] = {}
        self._custom: str | None = None   # the text set, None: the default
        self._store = store
        self._history = History()
        if store is not None:
            self._load(store)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem: dict[str, str] = {}
        self.cycles = 0

    # --- the verbs ---------------------------------------------------------
    def set_policy(self, text: str) -> None:
        """Replace the policy; MOMPolicyUpdateFailed (line and reason) when
        it cannot be parsed, the old one then stays."""
        try:
            program = compile_policy(text)
        except lang.PolicySyntaxError as e:
            log.warning("policy refused: %s", e)
            raise MOMPolicyUpdateFailed(f"Failed to set mom policy: {e}") from None
        with self._lock:
            self._text, self._program, self._custom = text, program, text
            self._save()
        log.info("policy replaced (%d lines)", text.count("\n") + 1)

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Merge policy parameters (numbers or booleans, by name);
        MOMPolicyUpdateFailed, nothing changed, on a bad name or value."""
        if not isinstance(values, dict):
            raise MOMPolicyUpdateFailed("Failed to set mom policy: "
                                        "key_value_store must be a map")
        clean = {name: _number(name, value) for name, value in values.items()}
        with self._lock:
            changed = {k: v for k, v in clean.items() if self._params.get(k) != v}
            self._params.update(clean)
            if changed:
                self._save()
        for name, value in sorted(changed.items()):
            log.info("policy parameter %s = %s", name, value)

    def policy(self) -> tuple[str, dict[str, Any]]:
        with self._lock:
            return self._text, dict(self._params)

    def _load(self, store: PolicyStore) -> None:
        """The stored policy and parameters; a policy that no longer
        parses or a bad parameter is logged and left out."""
        text, params = store.load()
        if text is not None:
            try:
                program = compile_policy(text)
            except lang.PolicySyntaxError as e:
                log.warning("stored policy in %s refused (%s): running the "
                            "default policy", store.path, e)
            else:
                self._text, self._program, self._custom = text, program, text
                log.info("stored policy loaded from %s", store.path)
        for name, value in params.items():
            try:
                self._params[name] = _number(name, value)
            except MOMPolicyUpdateFailed as e:
                log.warning("stored policy parameter left out: %s", e)
        if self._params:
            log.info("stored policy parameters loaded: %s",
                     ", ".join(sorted(self._params)))

    def _save(self) -> None:
        """Keep the accepted state on disk (called under the lock); a
        failure is logged: the new state is in force, but not kept."""
        if self._store is None:
            return
        try:
            self._store.save(self._custom, self._params)
        except OSError as e:
            log.error("policy not kept across restarts, cannot write %s: %s",
                      self._store.path, e)

    # --- a cycle -----------------------------------------------------------
    def run_cycle(self) -> dict[str, Any]:
        """Run the policy once and apply its changes; return them.

        Raises PolicyRuntimeError when the policy fails (nothing applied)
        and OSError/ValueError when the host figures cannot be read.
        """
        with self._lock:
            program, params = self._program, dict(self._params)
        figures = self._read_host()
        host = entities.host(figures, self._history.add("host", figures))
        records = self.guests.records() if self.guests is not None else []
        guests = [entities.guest(r, self._history.add(f"vm:{r['id']}", r))
                  for r in records]
        self._history.keep_only(["host", *(f"vm:{r['id']}" for r in records)])
        Interpreter(program, checked=True).run(
            {**params, "Host": host, "Guests": guests})
        self.cycles += 1
        return {"ksm": self._apply_ksm(host),
                "guests": {g.figures["id"]: changes for g in guests
                           if (changes := self._apply_guest(g))}}

    def _apply_ksm(self, host: entities.Entity) -> dict[str, int]:
        changes = {}
        for key, value in host.controls.items():
            wanted = int(round(value))
            if host.figures.get(key) != wanted:
                changes[key.removeprefix("ksm_")] = wanted
        if not changes:
            return {}
        try:
            self._tune_ksm(**changes)
        except (VdsmError, ValueError) as e:
            self._problem("ksm", f"cannot tune KSM {changes}: {e}")
            return {}
        for name, value in changes.items():
            log.info("policy: KSM %s %s -> %s", name,
                     host.figures.get(f"ksm_{name}"), value)
        return changes

    def _apply_guest(self, guest: entities.Entity) -> dict[str, Any]:
        assert self.guests is not None
        figures, changes = guest.figures, {}
        vm_id = figures["id"]
        if "balloon_target" in guest.controls:
            low = figures.get("balloon_min") or 0
            high = figures["balloon_max"]
            kib = max(low, min(high, int(guest.controls["balloon_target"])))
            if kib != figures.get("balloon_target"):
                if self._act(vm_id, self.guests.set_balloon_target, vm_id, kib):
                    log.info("policy: vm %s balloon target %s -> %d KiB", vm_id,
                             figures.get("balloon_target"), kib)
                    changes["balloon_target"] = kib
        choice = guest.controls.get("io_tune")
        if choice is not None and choice != figures.get("io_choice"):
            if choice not in IO_CHOICES:
                self._problem(vm_id, f"io_tune must be one of {IO_CHOICES}, "
                                     f"got {choice!r}")
            elif self._act(vm_id, self.guests.set_io_choice, vm_id, choice):
                log.info("policy: vm %s I/O limits %s -> %s", vm_id,
                         figures.get("io_choice"), choice)
                changes["io_tune"] = choice
        changes.update(self._apply_cpu(guest))
        return changes

    def _apply_cpu(self, guest: entities.Entity) -> dict[str, int]:
        """The vCPU quota and period the policy asked for, set together
        when either differs from the VM's current ones."""
        assert self.guests is not None
        figures, controls = guest.figures, guest.controls
        if "vcpu_quota" not in controls and "vcpu_period" not in controls:
            return {}
        quota = int(round(controls.get("vcpu_quota", figures.get("vcpu_quota"))))
        period = int(round(controls.get("vcpu_period",
                                        figures.get("vcpu_period"))))
        if (quota, period) == (figures.get("vcpu_quota"),
                               figures.get("vcpu_period")):
            return {}
        vm_id = figures["id"]
        if not self._act(vm_id, self.guests.set_cpu_tune, vm_id, quota, period):
            return {}
        log.info("policy: vm %s vCPU quota %s -> %d, period %s -> %d µs", vm_id,
                 figures.get("vcpu_quota"), quota, figures.get("vcpu_period"),
                 period)
        return {"vcpu_quota": quota, "vcpu_period": period}

    def _act(self, what: str, func: Callable[..., Any], *args: Any) -> bool:
        try:
            func(*args)
            return True
        except VdsmError as e:
            self._problem(what, f"{func.__name__}{args}: {e}")
            return False

    def _problem(self, what: str, message: str) -> None:
        """Log a failure when it is new for ``what``, not every cycle."""
        if self._last_problem.get(what) != message:
            log.warning("policy: %s", message)
            self._last_problem[what] = message

    # --- the thread --------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("policy engine already started")
        self._thread = threading.Thread(target=self._run, name="policy",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("policy thread did not stop in %.1f s", timeout)

    def _run(self) -> None:
        log.info("policy engine running every %g s", self.interval)
        while not self._stop.wait(self.interval):
            start = time.monotonic()
            try:
                self.run_cycle()
                self._last_problem.pop("cycle", None)
            except PolicyRuntimeError as e:
                self._problem("cycle", f"policy failed, nothing applied: {e}")
            except Exception:  # the thread must outlive any bad cycle
                if "cycle" not in self._last_problem:
                    log.exception("policy cycle failed")
                self._last_problem["cycle"] = "exception"
            log.debug("policy cycle took %.1f ms",
                      1000 * (time.monotonic() - start))
        log.info("policy engine stopped")


def _number(name: Any, value: Any) -> int | float:
    if not isinstance(name, str) or not _PARAM_NAME.match(name):
        raise MOMPolicyUpdateFailed(f"Failed to set mom policy: bad parameter "
                                    f"name {str(name)[:100]!r}")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            pass
    raise MOMPolicyUpdateFailed(f"Failed to set mom policy: parameter {name} "
                                f"must be a number or a boolean, got {value!r}")
