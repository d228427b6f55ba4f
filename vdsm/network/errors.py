"""Errors of host network configuration, with the classic network codes.

The classic agent answers network failures with its own small code range
(21-31, and 10 for a lost connection). Each class below carries the name
the API code table maps to that number. They are registered with the
supervdsm client so an error raised in supervdsmd comes back as the same
class.
"""

from __future__ import annotations

from vdsm.common.errors import VdsmError
from vdsm.supervdsm.errors import register_error


class NetworkError(VdsmError):
    """Base of the network errors (never raised itself)."""


class BadParams(NetworkError):
    name = "NetworkBadParams"  # classic ERR_BAD_PARAMS = 21
    default_message = "Bad network parameters"


class BadAddress(NetworkError):
    name = "NetworkBadAddress"  # ERR_BAD_ADDR = 22
    default_message = "Bad network address"


class BadNic(NetworkError):
    name = "NetworkBadNic"  # ERR_BAD_NIC = 23
    default_message = "Bad NIC"


class UsedNic(NetworkError):
    name = "NetworkUsedNic"  # ERR_USED_NIC = 24
    default_message = "NIC already in use"


class BadBonding(NetworkError):
    name = "NetworkBadBonding"  # ERR_BAD_BONDING = 25
    default_message = "Bad bonding"


class BadVlan(NetworkError):
    name = "NetworkBadVlan"  # ERR_BAD_VLAN = 26
    default_message = "Bad VLAN"


class BadBridge(NetworkError):
    name = "NetworkBadBridge"  # ERR_BAD_BRIDGE = 27
    default_message = "Bad network or bridge"


class UsedBridge(NetworkError):
    name = "NetworkUsedBridge"  # ERR_USED_BRIDGE = 28
    default_message = "Network in use"


class FailedIfup(NetworkError):
    name = "NetworkFailedIfup"  # ERR_FAILED_IFUP = 29
    default_message = "Failed to configure a network device"


class FailedIfdown(NetworkError):
    name = "NetworkFailedIfdown"  # ERR_FAILED_IFDOWN = 30
    default_message = "Failed to remove a network device"


class UsedBond(NetworkError):
    name = "NetworkUsedBond"  # ERR_USED_BOND = 31
    default_message = "Bond in use"


class LostConnection(NetworkError):
    """No client reached the agent after a change: it was rolled back."""

    name = "NoConnectionToPeer"  # ERR_LOST_CONNECTION = 10
    default_message = "Lost connection to the engine: change rolled back"


for _cls in (BadParams, BadAddress, BadNic, UsedNic, BadBonding, BadVlan,
             BadBridge, UsedBridge, FailedIfup, FailedIfdown, UsedBond,
             LostConnection):
    register_error(_cls)
