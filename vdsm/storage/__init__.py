"""The image repository: storage connections, domains, pools, SPM, images.

Entry point for the agent: :class:`vdsm.storage.subsystem.StorageSubsystem`.
"""
