"""The services every part of the image repository is handed.

Built once by the storage subsystem from the agent (configuration,
supervdsm client) and passed down; nothing in vdsm/storage reads globals.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from typing import Any, Protocol

from vdsm.config import Config
from vdsm.storage.io.file_operations import FileOps, LocalFileOps
from vdsm.storage.io.out_of_process import IOProcessPool
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.lvm import LVM


class Privileged(Protocol):
    """supervdsm, as storage uses it: ``call(op, **args)``."""

    def call(self, op: str, /, **args: Any) -> Any: ...


@dataclass
class StorageContext:
    config: Config
    supervdsm: Privileged
    io: IOProcessPool | None
    leases: LeaseManager
    _lvm: LVM | None = field(default=None, repr=False)

    @property
    def lvm(self) -> LVM:
        """The host's one LVM object (its report cache is shared by every
        block domain and the device verbs)."""
        if self._lvm is None:
            self._lvm = LVM(self.supervdsm)
        return self._lvm

    @property
    def lv_dir(self) -> str:
        return str(self.setting("lv_dir"))

    @property
    def mount_root(self) -> str:
        return self.config.mount_root

    @property
    def repository(self) -> str:
        return self.config.repository

    def file_ops(self, key: str) -> FileOps:
        """File operations for one domain or mount (out of process unless
        the context was built without helpers, as some unit tests do)."""
        if self.io is None:
            return LocalFileOps()
        return self.io.file_ops(key)

    def has_file_ops(self, key: str) -> bool:
        """Whether ``key`` already has its helper (someone may hold it)."""
        return self.io is not None and self.io.has(key)

    def release_file_ops(self, key: str) -> None:
        """Stop ``key``'s helper: only for one nobody else holds."""
        if self.io is not None:
            self.io.close(key)

    @property
    def owner(self) -> str | None:
        """The user that must own mounted storage: the one this process
        runs as, or None when running as root (nothing to hand over)."""
        if os.geteuid() == 0:
            return None
        return pwd.getpwuid(os.geteuid()).pw_name

    def setting(self, key: str) -> Any:
        return self.config.get("irs", key)
