"""The block backend (iSCSI, FC): one VG per domain, volumes as LVs.

- :mod:`.tags`: domain metadata as ``MDT_`` VG tags, volume LV tags,
  the special LVs and their sizes;
- :mod:`.volume_md`: volume metadata slots in the ``metadata`` LV;
- :mod:`.layout`: a new domain's special LVs and initial metadata, as data.

"""
