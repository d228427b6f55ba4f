"""The base of every error the agent reports to a caller.

A subsystem raises a subclass with a readable message; the numeric wire
code is looked up by the error's ``name`` in one table at the API boundary
(:mod:`vdsm.api.codes`). Subsystems never build response envelopes.
"""

from __future__ import annotations

from typing import Any


class VdsmError(Exception):
    """An expected failure that a caller should see as a coded error.

    ``name`` is the classic error name (``NoSuchVM``, ``MissingParameter``)
    that selects the wire code; ``message`` is what the caller reads.
    """

    name = "GeneralException"
    default_message = "General Exception"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class MissingParameter(VdsmError):
    name = "MissingParameter"
    default_message = "Missing required parameter"


class InvalidParameter(VdsmError):
    name = "InvalidParameter"
    default_message = "Invalid parameter"


class MethodNotImplemented(VdsmError):
    name = "MethodNotImplemented"
    default_message = "Not implemented"


class InvalidConfiguration(VdsmError):
    name = "InvalidConfiguration"
    default_message = "Invalid configuration value"


class ActionStopped(VdsmError):
    name = "ActionStopped"
    default_message = "Action was stopped"


class RecoveryInProgress(VdsmError):
    name = "RecoveryInProgress"
    default_message = "Recovering from crash or Initializing"


class HookError(VdsmError):
    name = "HookError"
    default_message = "Hook Error"


class ResourceUnavailable(VdsmError):
    name = "ResourceUnavailable"
    default_message = "Resource unavailable"


class CannotRetrieveHWInfo(VdsmError):
    name = "CannotRetrieveHWInfo"
    default_message = "Failed to read hardware information"


# --- policy engine (issue 14: Host.setMOMPolicy, setMOMPolicyParameters) ---
class MOMPolicyUpdateFailed(VdsmError):
    """A policy or parameter refused; the policy in effect stays."""

    name = "MOMPolicyUpdateFailed"
    default_message = "Failed to set mom policy"


# --- host services: maintenance and host devices (issue 14) -----------------
class PreparingForShutdown(ResourceUnavailable):
    """After prepareForShutdown: the host takes no new VMs."""

    default_message = "Resource unavailable: the host is preparing for shutdown"


class SetHAPolicyFailed(VdsmError):
    name = "SetHAPolicyFailed"
    default_message = "Failed to set Hosted Engine HA policy"


class HostdevDetachFailed(VdsmError):
    name = "HostdevDetachFailed"
    default_message = "Could not detach host device"


# --- fencing proxy (Host.fenceNode) ------------------------------------------
class UnsupportedFenceAgent(VdsmError):
    """No executable ``fence_<agent>`` in the fence agents directory."""

    name = "UnsupportedFenceAgent"
    default_message = "Unsupported fencing agent"
