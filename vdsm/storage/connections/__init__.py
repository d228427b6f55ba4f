"""Storage server connections: what connectStorageServer sets up.

- :mod:`.base`: one item of conList (:class:`ConnectionParams`) and the
  backend interface (:class:`Connection`);
- :mod:`.registry`: the backend per storage type, and the host's
  connections;
- :mod:`.file`: localfs links and posixfs/nfs/glusterfs mounts;
- :mod:`.mounts`: mount point names and what /proc/self/mountinfo lists;
- :mod:`.nfs`: the classic NFS mount options;
- :mod:`.iscsi`: iSCSI login/logout through supervdsm;
- :mod:`.iscsiadm`: iscsiadm command lines and output parsing.
"""
