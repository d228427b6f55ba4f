"""Block devices of the host: what the SAN gives this host to build VGs on.

``blockdev`` lists the disks (udev + sysfs) in the classic getDeviceList
shape, ``multipath`` reads multipathd's maps where it runs,
``visibility`` answers getDevicesVisibility, and ``iscsi_discovery``
shapes the discoverSendTargets answer. PV/VG identities come in from the
caller (the LVM module), so nothing here runs LVM.
"""
