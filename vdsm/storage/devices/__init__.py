"""Block devices of the host: the LUNs a block storage domain is built on.

- ``udev``: the whole disks udev knows (pyudev; one clear error without it)
- ``sysfs``: what the kernel says about one device (size, block sizes,
  SCSI identity, path state, transport, multipath map membership)
- ``blockdev``: one record per LUN candidate (multipath maps with their
  paths, single disks; loop devices when a test asks)
- ``devicelist``: the getDeviceList answer in its classic shape, with the
  PV/VG identities passed in by the caller (the LVM module), so nothing
  here runs LVM
- ``multipath``: multipathd/dmsetup command lines and parsers, where
  multipathd runs (the privileged reads are supervdsm's ``ops_devices``)
- ``visibility``: getDevicesVisibility
- ``iscsi_discovery``: the discoverSendTargets answer, CHAP discovery
  records, user-space discovery through libiscsi
"""
