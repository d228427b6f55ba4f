"""Why vdsClient stopped, and with which exit status.

The exit status tells a script what went wrong without parsing text:
1 the agent answered with an error, 2 the command line (or the local
configuration) is wrong, 3 the agent could not be reached.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3


class CliError(Exception):
    """A failure reported as one line on stderr and an exit status."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UsageError(CliError):
    """The command line cannot be turned into a call."""

    exit_code = EXIT_USAGE


class TransportError(CliError):
    """The agent could not be reached, or the TLS setup failed."""

    exit_code = EXIT_TRANSPORT
