"""Storage server connections: the backend per storage type, and the registry.

One backend per storage type, chosen from :data:`BACKENDS`:

- ``localfs``: a local directory, linked as ``<mount root>/<escaped path>``;
- ``posixfs``/``glusterfs``: ``mount -t <vfsType> -o <mntOptions> <spec>``;
- ``nfs``: a mount with the classic NFS options (:mod:`vdsm.storage.connections.nfs`);
- ``iscsi``: discovery and login (:mod:`vdsm.storage.connections.iscsi`).

Mounts and logins go through supervdsm. Each connection answers on its
own: one failing connection does not stop the others (``statuslist``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.connections.base import Connection, ConnectionParams
from vdsm.storage.connections.file import (
    LocalFsConnection,
    gluster_connection,
    nfs_connection,
    posix_connection,
)
from vdsm.storage.context import StorageContext
from vdsm.storage.errors import MountError, StorageTypeError

log = logging.getLogger(__name__)


def _iscsi(params: ConnectionParams, ctx: StorageContext) -> Connection:
    from vdsm.storage.connections.iscsi import IscsiConnection
    return IscsiConnection(params, ctx)


Factory = Callable[[ConnectionParams, StorageContext], Connection]

# Storage type -> connection backend. A new type registers here.
BACKENDS: dict[int, Factory] = {
    sc.LOCALFS_DOMAIN: LocalFsConnection,
    sc.POSIXFS_DOMAIN: posix_connection,
    sc.NFS_DOMAIN: nfs_connection,
    sc.GLUSTERFS_DOMAIN: gluster_connection,
    sc.ISCSI_DOMAIN: _iscsi,
}


class ConnectionRegistry:
    """The connections this host made; thread-safe."""

    def __init__(self, ctx: StorageContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._connections: dict[tuple[int, str], Connection] = {}

    def build(self, dom_type: int, item: dict[str, Any]) -> Connection:
        factory = BACKENDS.get(dom_type)
        if factory is None:
            raise StorageTypeError(f"Unsupported storage type {dom_type}")
        return factory(ConnectionParams.from_wire(item), self.ctx)

    def connect(self, dom_type: int, items: list[dict[str, Any]]) -> list[
            tuple[str, VdsmError | None]]:
        """Connect each; return (id, error or None) per connection."""
        return self._each(dom_type, items, self._connect_one)

    def disconnect(self, dom_type: int, items: list[dict[str, Any]]) -> list[
            tuple[str, VdsmError | None]]:
        return self._each(dom_type, items, self._disconnect_one)

    def validate(self, dom_type: int, items: list[dict[str, Any]]) -> list[
            tuple[str, VdsmError | None]]:
        return self._each(dom_type, items, lambda t, con: con.validate())

    def _each(self, dom_type: int, items: list[dict[str, Any]],
              action: Callable[[int, Connection], None]
              ) -> list[tuple[str, VdsmError | None]]:
        results: list[tuple[str, VdsmError | None]] = []
        for item in items:
            con_id = str(item.get("id") or sc.BLANK_UUID) if isinstance(item, dict) \
                else sc.BLANK_UUID
            try:
                action(dom_type, self.build(dom_type, item))
            except VdsmError as e:
                log.warning("storage connection %s failed: %s", con_id, e.message)
                results.append((con_id, e))
                continue
            except OSError as e:
                log.warning("storage connection %s failed: %s", con_id, e)
                results.append((con_id, MountError(f"{e}")))
                continue
            results.append((con_id, None))
        return results

    def _connect_one(self, dom_type: int, con: Connection) -> None:
        con.connect()
        with self._lock:
            self._connections[(dom_type, con.id)] = con

    def _disconnect_one(self, dom_type: int, con: Connection) -> None:
        con.disconnect()
        with self._lock:
            self._connections.pop((dom_type, con.id), None)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            cons = list(self._connections.items())
        return [dict(con.params.public(), type=sc.DOMAIN_TYPES.get(t, "UNKNOWN"),
                     connected=con.is_connected()) for (t, _), con in cons]

    def disconnect_all(self) -> None:
        with self._lock:
            cons = list(self._connections.values())
            self._connections.clear()
        for con in cons:
            try:
                con.disconnect()
            except (VdsmError, OSError) as e:
                log.warning("cannot disconnect %s: %s", con.id, e)

