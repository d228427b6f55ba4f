"""The file domain backend: a directory per domain on a mount.

- :mod:`.domain`: the domain (``<mount>/<sdUUID>/{dom_md,images,master}``);
- :mod:`.volume`: its volumes (``images/<img>/<vol>`` with ``.meta`` and
  ``.lease``).
"""
