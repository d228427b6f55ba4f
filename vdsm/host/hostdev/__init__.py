"""Host devices: libvirt's node devices in the classic shape, SR-IOV VF
counts, VFIO detach/reattach, and the hostdev XML a VM gets.

``nodedev`` parses (pure, over libvirt XML and a sysfs root), ``sriov``
validates VF count changes (written through supervdsm), ``assign`` holds
the libvirt calls, ``domxml`` builds a VM's ``<hostdev>``.
"""
