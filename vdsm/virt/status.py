"""VM status names, exit codes and exit reasons, and how libvirt maps to them.

The names and numbers are the classic wire facts the engine reads. This
module is pure: it knows libvirt only by its documented numeric constants,
so it can be tested without a daemon.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- status names (VmStats.status) ---------------------------------------
WAIT_FOR_LAUNCH = "WaitForLaunch"
POWERING_UP = "Powering up"
UP = "Up"
PAUSED = "Paused"
SAVING_STATE = "Saving State"
RESTORING_STATE = "Restoring state"
POWERING_DOWN = "Powering down"
DOWN = "Down"
MIGRATION_SOURCE = "Migration Source"
MIGRATION_DESTINATION = "Migration Destination"
REBOOT_IN_PROGRESS = "RebootInProgress"

RUNNING_STATES = frozenset({POWERING_UP, UP, POWERING_DOWN,
                            REBOOT_IN_PROGRESS, MIGRATION_SOURCE})

# --- exit codes: ``exitCode`` --------------------------------------------
NORMAL = 0
ERROR = 1

# --- exit reasons: ``exitReason`` (numbers as the classic agent sends) --
SUCCESS = 0
GENERIC_ERROR = 1
LOST_QEMU_CONNECTION = 2
LIBVIRT_START_FAILED = 3
MIGRATION_SUCCEEDED = 4
SAVE_STATE_SUCCEEDED = 5
ADMIN_SHUTDOWN = 6
USER_SHUTDOWN = 7
MIGRATION_FAILED = 8
LIBVIRT_DOMAIN_MISSING = 9
DESTROYED_ON_STARTUP = 10
HOST_SHUTDOWN = 11

EXIT_MESSAGES = {
    SUCCESS: "VM ended normally",
    GENERIC_ERROR: "VM ended with an error",
    LOST_QEMU_CONNECTION: "QEMU process ended unexpectedly (killed or crashed)",
    LIBVIRT_START_FAILED: "VM failed to start",
    MIGRATION_SUCCEEDED: "VM migrated to another host",
    SAVE_STATE_SUCCEEDED: "VM hibernated (memory state saved)",
    ADMIN_SHUTDOWN: "VM shut down or destroyed by the administrator",
    USER_SHUTDOWN: "VM powered off from within the guest",
    MIGRATION_FAILED: "VM failed to migrate",
    LIBVIRT_DOMAIN_MISSING: "The libvirt domain of the VM disappeared",
    DESTROYED_ON_STARTUP: "VM destroyed while it was starting",
    HOST_SHUTDOWN: "VM stopped because the host shut down",
}

# --- pause codes: ``pauseCode`` ------------------------------------------
PAUSE_NONE = "NOERR"
PAUSE_EIO = "EIO"
PAUSE_ENOSPC = "ENOSPC"
PAUSE_EPERM = "EPERM"
PAUSE_EOTHER = "EOTHER"

_IO_REASONS = {"eio": PAUSE_EIO, "enospc": PAUSE_ENOSPC, "eperm": PAUSE_EPERM}


def pause_code(io_error_reason: str) -> str:
    """libvirt's I/O error reason string -> classic pauseCode."""
    return _IO_REASONS.get(io_error_reason.lower(), PAUSE_EOTHER)


# virDomainDiskErrorCode (virDomainGetDiskErrors)
DISK_ERROR_NONE, DISK_ERROR_UNSPEC, DISK_ERROR_NO_SPACE = range(3)


def pause_code_from_disk_errors(errors: dict[str, int]) -> str:
    """The pauseCode of a domain libvirt paused on an I/O error, from its
    disk errors (what a restarted agent can still ask): ENOSPC if any disk
    ran out of space, else EIO for an unspecified error."""
    codes = set(errors.values())
    if DISK_ERROR_NO_SPACE in codes:
        return PAUSE_ENOSPC
    if DISK_ERROR_UNSPEC in codes:
        return PAUSE_EIO
    return PAUSE_EOTHER


# --- libvirt numbers (libvirt-domain.h; stable ABI) -----------------------
# virDomainState
DOM_NOSTATE, DOM_RUNNING, DOM_BLOCKED, DOM_PAUSED, DOM_SHUTDOWN, \
    DOM_SHUTOFF, DOM_CRASHED, DOM_PMSUSPENDED = range(8)
# virDomainEventType
EV_DEFINED, EV_UNDEFINED, EV_STARTED, EV_SUSPENDED, EV_RESUMED, EV_STOPPED, \
    EV_SHUTDOWN, EV_PMSUSPENDED, EV_CRASHED = range(9)
# virDomainEventStoppedDetailType
STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED, STOPPED_MIGRATED, \
    STOPPED_SAVED, STOPPED_FAILED, STOPPED_FROM_SNAPSHOT = range(7)
# virDomainEventSuspendedDetailType
SUSPENDED_PAUSED, SUSPENDED_MIGRATED, SUSPENDED_IOERROR, \
    SUSPENDED_WATCHDOG, SUSPENDED_RESTORED, SUSPENDED_FROM_SNAPSHOT, \
    SUSPENDED_API_ERROR, SUSPENDED_POSTCOPY, SUSPENDED_POSTCOPY_FAILED = range(9)
# virDomainPausedReason (domain state reasons while paused)
PAUSED_MIGRATION = 2
PAUSED_IOERROR = 3
PAUSED_STARTING_UP = 11
PAUSED_POSTCOPY = 12


@dataclass(frozen=True)
class ExitInfo:
    code: int
    reason: int
    message: str

    def as_stats(self) -> dict[str, object]:
        return {"exitCode": self.code, "exitReason": self.reason,
                "exitMessage": self.message}


def exit_info(reason: int, message: str | None = None) -> ExitInfo:
    """The exit triple for ``reason``; error reasons get exit code 1."""
    normal = reason in (SUCCESS, ADMIN_SHUTDOWN, USER_SHUTDOWN,
                        SAVE_STATE_SUCCEEDED, MIGRATION_SUCCEEDED)
    return ExitInfo(NORMAL if normal else ERROR, reason,
                    message or EXIT_MESSAGES.get(reason, "VM ended"))


def stopped_reason(detail: int, *, expected: int | None) -> int:
    """The exit reason of a STOPPED event.

    ``expected`` is the reason the agent itself caused (destroy, shutdown,
    hibernate), if any; libvirt's detail decides for everything else.
    """
    if detail == STOPPED_SAVED:
        return SAVE_STATE_SUCCEEDED
    if detail == STOPPED_MIGRATED:
        return MIGRATION_SUCCEEDED
    if detail in (STOPPED_CRASHED, STOPPED_FAILED):
        return LOST_QEMU_CONNECTION
    if expected is not None:
        return expected
    if detail == STOPPED_SHUTDOWN:
        return USER_SHUTDOWN
    if detail == STOPPED_DESTROYED:
        return ADMIN_SHUTDOWN
    return GENERIC_ERROR


def from_domain_state(state: int) -> str:
    """A status for a domain found running (recovery, reconnection)."""
    if state in (DOM_RUNNING, DOM_BLOCKED):
        return UP
    if state in (DOM_PAUSED, DOM_PMSUSPENDED):
        return PAUSED
    if state == DOM_SHUTDOWN:
        return POWERING_DOWN
    return DOWN
