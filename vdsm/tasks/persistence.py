"""Task state on disk: one directory per task, one JSON document in it.

``<root>/<taskID>/task.json`` is replaced atomically (write a temporary
file, fsync, rename, fsync the directory), so a crash leaves either the
old or the new state, never a torn file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from typing import Any

from vdsm.tasks.errors import TaskDirError, TaskMetaDataLoadError, TaskPersistError

log = logging.getLogger(__name__)

STATE_FILE = "task.json"
_TEMP_SUFFIX = ".tmp"
FORMAT_VERSION = 1


class TaskStore:
    """Reads and writes task records under one root directory.

    Callers serialize writes of one task; different tasks may be written
    from different threads at once.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def task_dir(self, task_id: str) -> str:
        return os.path.join(self.root, task_id)

    def save(self, task_id: str, record: dict[str, Any]) -> None:
        """Replace the stored record of a task; raises TaskPersistError."""
        directory = self.task_dir(task_id)
        path = os.path.join(directory, STATE_FILE)
        data = json.dumps(dict(record, version=FORMAT_VERSION), default=str,
                          sort_keys=True, indent=1).encode()
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, exist_ok=True)
                _fsync_dir(self.root)
            temp = path + _TEMP_SUFFIX
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, path)
            _fsync_dir(directory)
        except OSError as e:
            raise TaskPersistError(f"Cannot persist task {task_id}: {e}") from e

    def load(self, task_id: str) -> dict[str, Any]:
        """Read one record; raises TaskDirError or TaskMetaDataLoadError."""
        path = os.path.join(self.task_dir(task_id), STATE_FILE)
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read())
        except FileNotFoundError as e:
            raise TaskDirError(f"No task state in {path}") from e
        except (OSError, ValueError) as e:
            raise TaskMetaDataLoadError(f"Cannot read {path}: {e}") from e
        if not isinstance(record, dict) or record.get("id") != task_id:
            raise TaskMetaDataLoadError(f"{path} does not describe task {task_id}")
        return record

    def load_all(self) -> list[dict[str, Any]]:
        """Every readable record; unreadable ones are logged and left alone."""
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            log.debug("Task directory %s does not exist", self.root)
            return []
        records = []
        for name in names:
            if not os.path.isdir(self.task_dir(name)):
                continue
            try:
                records.append(self.load(name))
            except (TaskDirError, TaskMetaDataLoadError) as e:
                log.warning("Skipping stored task %s: %s", name, e)
        return records

    def remove(self, task_id: str) -> None:
        """Forget a task on disk; raises TaskDirError."""
        try:
            shutil.rmtree(self.task_dir(task_id))
        except FileNotFoundError:
            log.debug("Task %s had no stored state", task_id)
        except OSError as e:
            raise TaskDirError(f"Cannot remove state of task {task_id}: {e}") from e


class Recorder:
    """Writes the records of one task in order, newest wins.

    Records are numbered when taken (under the task's lock) and written
    later (outside it); a record older than one already written is dropped,
    so concurrent writers never leave stale state on disk. Thread-safe.
    """

    def __init__(self, store: TaskStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id
        self._lock = threading.Lock()
        self._taken = 0
        self._written = 0
        self._closed = False

    def take(self, record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Number a record; call in the order the changes happened."""
        self._taken += 1
        return self._taken, record

    def write(self, numbered: tuple[int, dict[str, Any]], *, strict: bool) -> None:
        """Write a record unless a newer one is on disk already.

        Raises TaskPersistError if ``strict``; otherwise a failure is logged
        and the next change writes the whole record again.
        """
        number, record = numbered
        with self._lock:
            if self._closed:
                log.debug("Task %s is cleared, not writing it", self.task_id)
                return
            if number <= self._written:
                return
            try:
                self.store.save(self.task_id, record)
            except TaskPersistError as e:
                if strict:
                    raise
                log.error("Task %s: cannot persist state %s: %s",
                          self.task_id, record.get("state"), e)
                return
            self._written = number


    def close(self) -> None:
        """Write nothing more (waits for a write in progress)."""
        with self._lock:
            self._closed = True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
