"""iSCSI storage server connections (login through supervdsm).

The LUNs a login brings are for block domains (a later backend); here a
connection is the login itself: connect logs in, disconnect logs out,
and a connection is up while iscsiadm lists its session.
"""

from __future__ import annotations

import logging

from vdsm.storage.connections.base import Connection
from vdsm.storage.connections.iscsiadm import check_iqn, check_portal
from vdsm.storage.errors import StorageServerValidationError

log = logging.getLogger(__name__)


class IscsiConnection(Connection):
    def _target_args(self) -> dict[str, object]:
        p = self.params
        return {"iqn": p.iqn, "portal": p.connection, "port": p.port, "tpgt": p.tpgt,
                "iface": p.iface}

    def validate(self) -> None:
        try:
            check_portal(self.params.connection, self.params.port)
            check_iqn(self.params.iqn)
        except Exception as e:
            raise StorageServerValidationError(f"{e}") from None

    def connect(self) -> None:
        self.validate()
        args = self._target_args()
        if self.params.user:
            args.update(user=self.params.user, password=self.params.password)
        self.ctx.supervdsm.call("iscsi_login", **args)
        log.info("logged in to %s at %s:%s", self.params.iqn, self.params.connection,
                 self.params.port)

    def disconnect(self) -> None:
        self.ctx.supervdsm.call("iscsi_logout", **self._target_args())

    def is_connected(self) -> bool:
        sessions = self.ctx.supervdsm.call("iscsi_sessions")
        return any(s["iqn"] == self.params.iqn and s["portal"] == self.params.connection
                   for s in sessions)
