"""The block backend (iSCSI, FC): one VG per domain, volumes as LVs.

- :mod:`.domain`: :class:`~.domain.BlockStorageDomain` (metadata as VG
  tags, LV paths, the master LV's mount, images from LV tags);
- :mod:`.create`: createStorageDomain on a createVG VG, all or nothing;
- :mod:`.lookup`: domain VGs on the host's listed devices;
- :mod:`.vgaccess`: what the domain and its volumes share;
- :mod:`.tags`: domain metadata as ``MDT_`` VG tags, volume LV tags,
  the special LVs and their sizes;
- :mod:`.volume_md`: volume metadata slots in the ``metadata`` LV;
- :mod:`.layout`: a new domain's special LVs and initial metadata, as data;
- :mod:`.errors`: creation errors with classic names.

The master LV's mkfs and mount are supervdsm ops
(:mod:`vdsm.supervdsm.ops_blockdomain`).
"""
