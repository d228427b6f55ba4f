"""File storage connections: a local directory link, or a mount.

``localfs`` links a local directory as ``<mount root>/<escaped path>``;
``posixfs``, ``nfs`` and ``glusterfs`` mount ``spec`` there through
supervdsm and hand the mounted root to the agent's user.
"""

from __future__ import annotations

import logging
import os

from vdsm.common.errors import VdsmError
from vdsm.storage.connections import mounts, nfs
from vdsm.storage.connections.base import Connection, ConnectionParams
from vdsm.storage.context import StorageContext
from vdsm.storage.errors import (
    StorageServerAccessPermissionError,
    StorageServerValidationError,
)

log = logging.getLogger(__name__)

MOUNT_TIMEOUT = 180.0


class LocalFsConnection(Connection):
    """A local directory, linked under the mount root."""

    @property
    def link(self) -> str:
        return os.path.join(self.ctx.mount_root,
                            mounts.transform_path(self.params.connection))

    def validate(self) -> None:
        path = self.params.connection
        if not path.startswith("/") or os.path.normpath(path) != path.rstrip("/"):
            raise StorageServerValidationError(
                f"localfs path must be absolute and normalized: {path!r}")

    def connect(self) -> None:
        self.validate()
        path = self.params.connection
        fresh = not self.ctx.has_file_ops(self.link)
        ops = self.ctx.file_ops(self.link)
        try:
            if not ops.exists(path):
                raise StorageServerValidationError(f"{path} does not exist")
            if not ops.access(path):
                raise StorageServerAccessPermissionError(
                    f"{path} is not readable and writable by this agent")
        except VdsmError:
            if fresh:  # else a domain on this link may hold the helper
                self.ctx.release_file_ops(self.link)
            raise
        if os.path.islink(self.link) and os.readlink(self.link) == path:
            return
        ops.symlink(path, self.link)
        log.info("linked local storage %s as %s", path, self.link)

    def disconnect(self) -> None:
        if os.path.islink(self.link):
            os.unlink(self.link)

    def is_connected(self) -> bool:
        return os.path.islink(self.link)


class MountConnection(Connection):
    """A file system mounted through supervdsm."""

    def __init__(self, params: ConnectionParams, ctx: StorageContext, *,
                 vfs_type: str | None = None, options: str | None = None) -> None:
        super().__init__(params, ctx)
        self.vfs_type = vfs_type or params.vfs_type
        self.options = params.mnt_options if options is None else options

    @property
    def spec(self) -> str:
        return mounts.normalize_remote(self.params.connection)

    @property
    def mountpoint(self) -> str:
        return os.path.join(self.ctx.mount_root, mounts.transform_path(self.spec))

    def validate(self) -> None:
        if not self.params.connection:
            raise StorageServerValidationError("connection (mount spec) is empty")
        if not self.vfs_type:
            raise StorageServerValidationError("vfs_type is required")

    def connect(self) -> None:
        self.validate()
        if self.is_connected():
            return
        os.makedirs(self.mountpoint, exist_ok=True)
        try:
            self.ctx.supervdsm.call("mount", spec=self.spec, target=self.mountpoint,
                                    vfs_type=self.vfs_type,
                                    options=self.options or None,
                                    timeout=MOUNT_TIMEOUT)
        except VdsmError:
            _remove_dir(self.mountpoint)
            raise
        log.info("mounted %s (%s) on %s", self.spec, self.vfs_type, self.mountpoint)
        self._hand_over()

    def _hand_over(self) -> None:
        """Let the agent's user write on the new file system (a local file
        system's root is root's; an NFS export must be set up right)."""
        owner = self.ctx.owner
        ops = self.ctx.file_ops(self.mountpoint)
        if owner is None or ops.access(self.mountpoint):
            return
        try:
            self.ctx.supervdsm.call("chown_path", path=self.mountpoint, user=owner)
        except VdsmError as e:
            log.warning("cannot hand %s over to %s: %s", self.mountpoint, owner, e)
        if not ops.access(self.mountpoint):
            raise StorageServerAccessPermissionError(
                f"{self.spec} is mounted but not writable by {owner}")

    def disconnect(self) -> None:
        if self.is_connected():
            self.ctx.supervdsm.call("umount", target=self.mountpoint,
                                    timeout=MOUNT_TIMEOUT)
            log.info("unmounted %s", self.mountpoint)
        _remove_dir(self.mountpoint)

    def is_connected(self) -> bool:
        return mounts.find_mount(self.mountpoint) is not None


def _remove_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove mount directory %s: %s", path, e)


def nfs_connection(params: ConnectionParams, ctx: StorageContext) -> Connection:
    options = nfs.mount_options(version=params.protocol_version,
                                timeo=params.timeout, retrans=params.retrans,
                                extra=params.mnt_options)
    return MountConnection(params, ctx, vfs_type="nfs", options=options)


def posix_connection(params: ConnectionParams, ctx: StorageContext) -> Connection:
    return MountConnection(params, ctx)


def gluster_connection(params: ConnectionParams, ctx: StorageContext) -> Connection:
    return MountConnection(params, ctx, vfs_type="glusterfs")
