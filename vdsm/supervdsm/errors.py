"""Errors of the privileged helper, and their reconstruction on the client.

The server sends an error as ``{"name", "message"}``; the client turns it
back into an exception whose ``name`` (and so its wire code at the API
boundary) and ``message`` are the server's. Known names map to their
classes (:func:`register_error` adds more); an unknown name becomes a
:class:`RemoteError` carrying that name.
"""

from __future__ import annotations

from vdsm.common import errors
from vdsm.common.errors import VdsmError


class UnknownOperation(errors.MethodNotImplemented):
    """The op is not in supervdsm's allowlist (classic code 44)."""

    default_message = "Unknown supervdsm operation"


class AccessDenied(VdsmError):
    """The connecting process is not vdsm, root, or in vdsm's group.

    Not a classic name: vdsmd itself is always allowed, so only a foreign
    process can ever see it.
    """

    name = "AccessDenied"
    default_message = "Not allowed to use supervdsm"


class ProtocolError(VdsmError):
    """A frame was oversized, not JSON, or not a valid request/answer."""

    name = "GeneralException"
    default_message = "supervdsm protocol error"


class UnexpectedError(VdsmError):
    """An op failed in a way it does not document (a bug); see the log."""

    name = "UnexpectedError"
    default_message = "Unexpected exception"


class SupervdsmUnavailable(errors.ResourceUnavailable):
    """supervdsmd could not be reached, or did not answer in time."""

    default_message = "supervdsm is not available"


class MountError(VdsmError):
    name = "MountError"
    default_message = "Problem while trying to mount target"


class MountTypeError(errors.InvalidParameter):
    """A file system type outside the allowlist (classic code 470)."""

    name = "MountTypeError"
    default_message = "Mount type error"


class KSMUpdateFailed(VdsmError):
    name = "KSMUpdateFailed"
    default_message = "Failed to update KSM values"


class RemoteError(VdsmError):
    """An error whose name the client has no class for."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


_KNOWN: dict[str, type[VdsmError]] = {}


def register_error(cls: type[VdsmError]) -> type[VdsmError]:
    """Let clients rebuild ``cls`` from its name (usable as a decorator).

    A later registration of the same name wins; register the most specific
    class an op raises.
    """
    _KNOWN[cls.name] = cls
    return cls


for _cls in (errors.VdsmError, errors.MissingParameter,
             errors.InvalidParameter, errors.InvalidConfiguration,
             errors.ActionStopped, errors.ResourceUnavailable,
             UnknownOperation, AccessDenied, UnexpectedError, MountError,
             MountTypeError, KSMUpdateFailed):
    register_error(_cls)


def error_from_wire(name: object, message: object) -> VdsmError:
    """The exception a client raises for an error answer."""
    name = name if isinstance(name, str) and name else "GeneralException"
    message = message if isinstance(message, str) else str(message)
    cls = _KNOWN.get(name)
    if cls is None:
        return RemoteError(name, message)
    return cls(message)
