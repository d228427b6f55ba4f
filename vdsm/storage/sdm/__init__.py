"""The SDM jobs: volume work any host holding the domain's host id can do.

``SDM.create_volume``, ``SDM.copy_data``, ``SDM.amend_volume`` and
``SDM.update_volume`` answer at once and run as host jobs (type
``storage``, followed with ``Host.getJobs``), not as SPM tasks. Each job
takes the image lock on this host and the volume's lease in the domain's
lockspace (:mod:`vdsm.storage.sdm.guarded`), so two hosts never change
the same volume at once; a volume being changed is ILLEGAL until done.
"""
