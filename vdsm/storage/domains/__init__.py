"""Storage domains: the domain and volume interfaces, and what any host does with them.

- :mod:`.domain`: the interface every domain backend implements, the
  domain metadata keys and the registry of backends by storage type;
- :mod:`.volume`: the volume metadata model and the volume interface;
- :mod:`.image`: images as chains of volumes (read only);
- :mod:`.metadata`: the classic metadata text formats;
- :mod:`.cache`: finding domains on the mounts and the host's devices,
  and the domain objects;
- :mod:`.monitor`: one monitor thread per domain (repoStats);
- :mod:`.operations`: domain verbs any host may run (create, format, ...);
- :mod:`.file`: the file backend (NFS, local, POSIX, Gluster);
- :mod:`.block`: the block backend (iSCSI, FCP): one VG per domain.
"""
