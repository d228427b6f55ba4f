"""Storage server connections: the parameters and the backend interface.

One item of connectStorageServer's conList becomes :class:`ConnectionParams`;
each storage type has a :class:`Connection` backend (see
:mod:`vdsm.storage.connections.registry` for the registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.storage import constants as sc
from vdsm.storage.context import StorageContext


@dataclass(frozen=True)
class ConnectionParams:
    """One item of conList, with the classic key names."""

    id: str
    connection: str = ""
    vfs_type: str = ""
    mnt_options: str = ""
    protocol_version: str | None = None
    timeout: int | None = None
    retrans: int | None = None
    port: int = 3260
    iqn: str = ""
    tpgt: int = 1
    user: str = ""
    password: str = field(default="", repr=False)
    iface: str = "default"

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> ConnectionParams:
        if not isinstance(item, dict):
            raise InvalidParameter(f"connection must be a struct, got {item!r:.80}")

        def integer(key: str, default: int | None) -> int | None:
            value = item.get(key)
            if value in (None, ""):
                return default
            try:
                return int(value)
            except (TypeError, ValueError):
                raise InvalidParameter(f"connection {key} must be a number") from None

        return cls(
            id=str(item.get("id") or sc.BLANK_UUID),
            connection=str(item.get("connection", "")),
            vfs_type=str(item.get("vfs_type", item.get("vfsType", "")) or ""),
            mnt_options=str(item.get("mnt_options", item.get("mntOptions", "")) or ""),
            protocol_version=item.get("protocol_version") or None,
            timeout=integer("timeout", None), retrans=integer("retrans", None),
            port=integer("port", 3260) or 3260, iqn=str(item.get("iqn", "")),
            tpgt=integer("tpgt", 1) or 1, user=str(item.get("user", "")),
            password=str(item.get("password", "")),
            iface=str(item.get("ifaceName", "default") or "default"))

    def public(self) -> dict[str, Any]:
        """As getStorageConnectionsList shows it (no password)."""
        return {"id": self.id, "connection": self.connection,
                "vfs_type": self.vfs_type, "mnt_options": self.mnt_options,
                "iqn": self.iqn, "port": str(self.port), "user": self.user,
                "password": "******" if self.password else ""}


class Connection:
    """The interface every backend implements."""

    def __init__(self, params: ConnectionParams, ctx: StorageContext) -> None:
        self.params = params
        self.ctx = ctx

    @property
    def id(self) -> str:
        return self.params.id

    def validate(self) -> None:
        """Check the parameters; raise a VdsmError if they cannot work."""

    def connect(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError

    def is_connected(self) -> bool:
        raise NotImplementedError
