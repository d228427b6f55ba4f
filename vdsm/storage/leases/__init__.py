"""Leases on storage: host ids, the SPM lease, volume leases.

- :mod:`.manager`: the lease-manager interface and the registry of its
  implementations (``[irs] lease_manager``);
- :mod:`.sanlock`: the sanlock implementation.
"""
