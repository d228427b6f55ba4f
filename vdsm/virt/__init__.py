"""VMs through libvirt: definition, life cycle, events, monitoring, recovery.

Entry point: :class:`vdsm.virt.subsystem.VirtSubsystem` (plugged into the
agent); the API handlers are in :mod:`vdsm.api.vm`.
"""
