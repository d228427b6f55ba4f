"""The image repository: storage connections, domains, pools, SPM, images.

Entry point for the agent: :class:`vdsm.storage.subsystem.StorageSubsystem`,
which builds :class:`vdsm.storage.service.StorageService` (what the API
handlers call). Where things live:

- ``connections/``: connectStorageServer (localfs, posixfs, nfs, glusterfs,
  iscsi);
- ``domains/``: the domain and volume interfaces, domain lookup, monitoring
  and metadata formats; ``domains/file/`` is the file backend;
- ``spm/``: the pool, the SPM role, pool-changing jobs, master migration,
  undo steps of the SPM's tasks;
- ``io/``: file I/O in helper processes (a hung mount blocks a helper, never
  the daemon);
- ``leases/``: the lease-manager interface and its sanlock implementation;
- ``devices/``: the host's block devices (udev, sysfs, multipath) and
  iSCSI discovery, for getDeviceList and block domains;
- ``lvm.py`` (with ``lvm_cmd.py``, ``lvm_report.py``, ``lvm_errors.py``):
  every LVM command, filtered to the VG's own PVs, with a report cache;
- ``blockdevs.py``: getDeviceList, getDevicesVisibility and the VG verbs
  (createVG, getVGInfo, getVGList, removeVG) over the devices the host
  lists; ``sendtargets.py``: discoverSendTargets;
- ``images.py``/``volumes.py``: the image- and volume-changing SPM jobs;
- ``copy_service.py``, ``image_copy.py``, ``volume_copy.py``,
  ``qemuimg_copy.py``: copy between domains (cloneImageStructure,
  syncImageData, moveImage, moveMultipleImages; docs/copy.md);
- ``resources.py`` (locks), ``qemuimg.py``, ``errors.py``, ``constants.py``,
  ``context.py`` (the services passed down), ``faults.py`` (test pause points).
"""
