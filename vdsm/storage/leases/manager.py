"""The lease-manager interface, and the registry of its implementations.

A domain's host ids are delta leases in its ``ids`` file (one lockspace per
domain, named by the domain UUID); the SPM holds a paxos resource lease
("SDM") in its ``leases`` file; each volume has a resource in its
``.lease`` file. Storage code talks to leases only through
:class:`LeaseManager`, so another lock manager can slot in by name
(``[irs] lease_manager``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

from vdsm.common.errors import InvalidConfiguration


@dataclass(frozen=True)
class LeaseOwner:
    host_id: int
    generation: int


@dataclass(frozen=True)
class LeaseStatus:
    """A resource lease on disk: its version (LVER) and current owners."""

    version: int
    owners: tuple[LeaseOwner, ...]


# A host id's state in a lockspace, as the classic getHostLeaseStatus names it.
HOST_LIVE, HOST_FAIL, HOST_DEAD, HOST_FREE, HOST_UNKNOWN = (
    "live", "fail", "dead", "free", "unknown")
HOST_STATUSES = (HOST_LIVE, HOST_FAIL, HOST_DEAD, HOST_FREE, HOST_UNKNOWN)


class LeaseManager(abc.ABC):
    """Host ids and resource leases; implementations are thread-safe."""

    name = "abstract"

    @abc.abstractmethod
    def init_lockspace(self, lockspace: str, path: str) -> None:
        """Format a lockspace (host id area) at offset 0 of ``path``.

        Raises ClusterLockInitError.
        """

    @abc.abstractmethod
    def init_resource(self, lockspace: str, resource: str, path: str,
                      offset: int) -> None:
        """Format a free resource lease; raises ClusterLockInitError."""

    @abc.abstractmethod
    def check_available(self) -> None:
        """Raise AcquireHostIdFailure when host ids cannot be acquired at
        all (the lock daemon is not running), so that callers fail at once
        instead of waiting for a host id that cannot come."""

    @abc.abstractmethod
    def acquire_host_id(self, lockspace: str, host_id: int, path: str, *,
                        wait: bool) -> None:
        """Start acquiring ``host_id``; with ``wait`` until it is held.

        Adding a lockspace that is already added or being added is not an
        error. Raises AcquireHostIdFailure.
        """

    @abc.abstractmethod
    def release_host_id(self, lockspace: str, host_id: int, path: str, *,
                        wait: bool) -> None:
        """Give up ``host_id``; not held is not an error.

        Raises ReleaseHostIdFailure.
        """

    @abc.abstractmethod
    def has_host_id(self, lockspace: str, host_id: int, path: str) -> bool | None:
        """True when held, False when not, None while being acquired."""

    @abc.abstractmethod
    def acquire(self, lockspace: str, resource: str, path: str,
                offset: int) -> LeaseStatus:
        """Take a resource lease for this process; return its new status.

        Raises DomainAlreadyLocked when another host holds it,
        AcquireHostIdFailure without a host id in the lockspace.
        """

    @abc.abstractmethod
    def release(self, lockspace: str, resource: str, path: str,
                offset: int) -> None:
        """Release a lease this process holds; raises ReleaseLockFailure."""

    @abc.abstractmethod
    def status(self, lockspace: str, resource: str, path: str,
               offset: int) -> LeaseStatus:
        """Read a resource lease from disk; raises SanlockInquireError."""

    def host_status(self, lockspace: str, host_id: int) -> str:
        """How another host's id looks from here: one of HOST_STATUSES.

        Only a manager that watches other hosts' renewals can know; the
        default says "unknown"."""
        return HOST_UNKNOWN


_REGISTRY: dict[str, Callable[..., LeaseManager]] = {}


def register(name: str, factory: Callable[..., LeaseManager]) -> None:
    """Make a lease manager available under ``name``."""
    _REGISTRY[name] = factory


def create(name: str, **kwargs: Any) -> LeaseManager:
    """Build the lease manager called ``name``; raises InvalidConfiguration."""
    if name == "sanlock" and name not in _REGISTRY:
        from vdsm.storage.leases import sanlock  # noqa: F401 (registers itself)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise InvalidConfiguration(
            f"unknown lease manager {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory(**kwargs)
