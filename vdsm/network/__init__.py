"""Host network configuration: setupNetworks with bridges, VLANs and bonds.

Pipeline (nmstate-like): parse -> validate -> desired devices -> plan
against the kernel -> apply in supervdsmd with undo -> verify -> record;
optionally wait for a client call and roll back. See subsystem.py for
the entry point and persistence.py for the on-disk layout.
"""
