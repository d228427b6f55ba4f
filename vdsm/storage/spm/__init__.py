"""The pool and its SPM: the one host allowed to change metadata.

- :mod:`.pool`: the storage pool (domains bound by the master's metadata);
- :mod:`.role`: the SPM role (election on the SDM lease, the task manager);
- :mod:`.pool_operations`: attach, detach, activate, deactivate;
- :mod:`.master_migration`: moving the master role to another domain;
- :mod:`.recovery`: named undo steps of the SPM's tasks;
- :mod:`.tasks`: the pool's tasks as the Task verbs see them.
"""
