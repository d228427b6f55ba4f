"""Storage file I/O, out of the daemon's threads.

- :mod:`.file_operations`: the file operations (:class:`FileOps`), run in
  the daemon or in a helper process;
- :mod:`.out_of_process`: the helper processes, one per domain or mount,
  with a timeout on every call;
- :mod:`.worker`: the helper process itself
  (``python -m vdsm.storage.io.worker``).
"""
