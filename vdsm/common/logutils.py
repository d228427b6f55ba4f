"""Logging set-up shared by the daemons: one file per daemon plus stderr."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

FORMAT = ("%(asctime)s %(levelname)-7s (%(threadName)s) [%(name)s] "
          "%(message)s")


def setup(log_dir: str, filename: str, level: str = "INFO", *,
          stderr: bool = True) -> str:
    """Log to ``log_dir/filename`` (rotated) and optionally to stderr.

    Returns the log file path. Safe to call again: handlers are replaced.
    """
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, filename)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    file_handler = logging.handlers.WatchedFileHandler(path)
    file_handler.setFormatter(formatter)
    root.addHandler(file_handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        root.addHandler(console)
    root.setLevel(level.upper())
    return path
