"""Errors of the task manager, named after the classic task errors (400s).

The numeric wire codes live in the API layer's table; here only the names.
"""

from __future__ import annotations

from vdsm.common.errors import VdsmError


class InvalidTask(VdsmError):
    name = "InvalidTask"
    default_message = "Task invalid"


class UnknownTask(VdsmError):
    name = "UnknownTask"
    default_message = "Task id unknown"


class TaskClearError(VdsmError):
    name = "TaskClearError"
    default_message = "Could not clear task"


class TaskNotFinished(VdsmError):
    name = "TaskNotFinished"
    default_message = "Task not finished"


class AddTaskError(VdsmError):
    name = "AddTaskError"
    default_message = "TaskManager error, unable to add task"


class TaskMetaDataSaveError(VdsmError):
    name = "TaskMetaDataSaveError"
    default_message = "Can't save Task Metadata"


class TaskMetaDataLoadError(VdsmError):
    name = "TaskMetaDataLoadError"
    default_message = "Can't load Task Metadata"


class TaskDirError(VdsmError):
    name = "TaskDirError"
    default_message = "can't find/access task dir"


class TaskStateError(VdsmError):
    name = "TaskStateError"
    default_message = "Operation is not allowed in this task state"


class TaskAborted(VdsmError):
    name = "TaskAborted"
    default_message = "Task is aborted"


class TaskPersistError(VdsmError):
    name = "TaskPersistError"
    default_message = "Can't persist task"


class InvalidJob(VdsmError):
    name = "InvalidJob"
    default_message = "Job is invalid"


class InvalidRecovery(VdsmError):
    name = "InvalidRecovery"
    default_message = "Recovery is invalid"


class TaskStateTransitionError(VdsmError):
    name = "TaskStateTransitionError"
    default_message = "cannot move task to requested state"
