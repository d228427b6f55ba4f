"""Applying wanted devices to the kernel, all or nothing.

The pipeline of one change: read the kernel, plan the steps
(:mod:`plan`), run them one by one keeping what was done, read the
kernel again and verify. If a step fails or the result differs, the
undo requests of the steps done run in reverse order and the error
names the failing step; the kernel is then as it was before (an undo
that fails is logged and named in the error too). DHCP clients (for
devices with ``dhcp``) are started and stopped as steps too, through a
:class:`~vdsm.network.dhcp.DhcpClients`. Runs in supervdsmd
(it needs CAP_NET_ADMIN) or in a root tool; not thread-safe per socket.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from typing import Any

from vdsm.network import kernel, plan
from vdsm.network.desired import Iface
from vdsm.network.dhcp import DhcpClients
from vdsm.network.errors import FailedIfdown, FailedIfup, NetworkError
from vdsm.network.nlreq import Req, Step

log = logging.getLogger(__name__)


class Executor:
    """Runs :class:`Req` objects on a pyroute2 socket, resolving names;
    ``dhcp`` requests go to the DHCP clients."""

    def __init__(self, ipr: Any, dhcp: DhcpClients | None = None) -> None:
        self._ipr = ipr
        self._dhcp = dhcp
        self._indexes: dict[str, int] = {}

    def index(self, name: str) -> int:
        if name not in self._indexes:
            found = self._ipr.link_lookup(ifname=name)
            if not found:
                raise FailedIfup(f"device {name!r} does not exist")
            self._indexes[name] = found[0]
        return self._indexes[name]

    def run(self, req: Req) -> None:
        kwargs = dict(req.args)
        for key, name in req.refs.items():
            kwargs[key] = self.index(name) if name else 0
        if req.obj == "link":
            if req.target:
                kwargs["index"] = self.index(req.target)
            self._ipr.link(req.cmd, **kwargs)
            # Only the added or deleted device's index changes.
            self._indexes.pop(req.target or req.args.get("ifname", ""), None)
        elif req.obj == "addr":
            self._ipr.addr(req.cmd, index=self.index(req.target), **kwargs)
        elif req.obj == "route":
            self._ipr.route(req.cmd, **kwargs)
        elif req.obj == "dhcp":
            self._run_dhcp(req.cmd, req.target)
        else:
            raise ValueError(f"unknown request {req}")


    def _run_dhcp(self, cmd: str, name: str) -> None:
        if self._dhcp is None:
            raise FailedIfup(f"{name}: DHCP is not available here")
        if cmd == "start":
            self._dhcp.start(name)
        elif cmd == "stop":
            self._dhcp.stop(name)
            # Whatever the client left (it flushes on release) goes too.
            found = self._ipr.link_lookup(ifname=name)
            if found:
                self._ipr.flush_addr(index=found[0], family=socket.AF_INET)
        else:
            raise ValueError(f"unknown dhcp request {cmd!r}")


def read(ipr: Any, dhcp: DhcpClients | None) -> kernel.KernelState:
    """The kernel's state, with the devices whose DHCP client runs."""
    state = kernel.read(ipr)
    if dhcp is None:
        return state
    return dataclasses.replace(state, dhcp=frozenset(dhcp.clients()))


def apply(ipr: Any, desired: dict[str, Iface], release: dict[str, str], *,
          dhcp: DhcpClients | None = None) -> dict[str, Any]:
    """Make the namespace of ``ipr`` hold ``desired`` and not ``release``.

    Returns ``{"changes": [what was done], "elapsed": seconds}``. Raises
    FailedIfup (FailedIfdown for a failed removal) after undoing, or the
    planner's error (bad kind, missing NIC) before touching anything.
    """
    start = time.monotonic()
    before = read(ipr, dhcp)
    steps = plan.plan(before, desired, release)
    executor = Executor(ipr, dhcp)
    done: list[Step] = []
    current = None
    try:
        for current in steps:
            log.debug("network step: %s (%s)", current.what, current.do)
            executor.run(current.do)
            done.append(current)
        current = None
        problems = plan.verify(read(ipr, dhcp), desired, release)
        if problems:
            raise FailedIfup("the devices differ from the request after "
                             "applying it: " + "; ".join(problems[:8]))
    except Exception as e:
        log.warning("network change failed at %s: %s; undoing %d step(s)",
                    current.what if current else "verification", e, len(done))
        leftovers = rollback(executor, done)
        leftovers += _compare(before, read(ipr, dhcp),
                              set(desired) | set(release))
        raise _failure(e, current, leftovers) from None
    elapsed = time.monotonic() - start
    log.info("network change applied: %d step(s) in %.3f s", len(done), elapsed)
    return {"changes": [s.what for s in done], "elapsed": elapsed}


def rollback(executor: Executor, done: list[Step]) -> list[str]:
    """Run the undos of ``done`` in reverse; return what could not be undone."""
    failures = []
    for step in reversed(done):
        for req in step.undo:
            try:
                executor.run(req)
            except Exception as e:  # keep undoing the rest, report it
                log.error("could not undo %r (%s): %s", step.what, req, e)
                failures.append(f"undo of {step.what!r}: {e}")
    return failures


def _compare(before: kernel.KernelState, after: kernel.KernelState,
             names: set[str]) -> list[str]:
    """Differences of the managed devices after a rollback."""
    diffs = []
    for name in sorted(names):
        old, new = before.devices.get(name), after.devices.get(name)
        if (name in before.dhcp) != (name in after.dhcp):
            diffs.append(f"DHCP client of {name} "
                         f"{'started' if name in after.dhcp else 'stopped'}")
        if (old is None) != (new is None):
            diffs.append(f"{name} {'appeared' if new else 'vanished'}")
        elif old is not None and new is not None and (
                old.kind, old.mtu, old.up, old.master, old.addresses) != (
                new.kind, new.mtu, new.up, new.master, new.addresses):
            diffs.append(f"{name} changed")
    routes = [r for r in before.default_routes + after.default_routes
              if r[1] in names]
    if set(routes) & set(before.default_routes) != \
            set(routes) & set(after.default_routes):
        diffs.append("default route changed")
    return diffs


def _failure(error: Exception, step: Step | None,
             leftovers: list[str]) -> NetworkError:
    where = f"{step.what}: " if step else ""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    message = f"{where}{text}"
    if leftovers:
        message += "; ROLLBACK INCOMPLETE: " + "; ".join(leftovers[:8])
    else:
        message += " (rolled back)"
    if isinstance(error, NetworkError) and step is None:
        return type(error)(message)
    if step is not None and step.do.cmd == "del":
        return FailedIfdown(message)
    return FailedIfup(message)
