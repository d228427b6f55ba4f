"""Asynchronous tasks: jobs run on worker threads, undone on failure or stop.

The storage subsystem runs SPM operations as tasks; the API reports them
with the classic task verbs (see :mod:`vdsm.tasks.manager`).
"""

from vdsm.tasks.context import TaskContext
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry
from vdsm.tasks.state import State

__all__ = ["RecoveryRegistry", "State", "TaskContext", "TaskManager"]
