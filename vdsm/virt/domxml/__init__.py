"""Domain XML from a VM definition, one module per device family.

:func:`vdsm.virt.domxml.domain.build` assembles the whole ``<domain>``;
each device module has a pure ``element(device)`` builder and the live
XML is read back by :mod:`vdsm.virt.domxml.parse`. Output is
deterministic so tests compare it against literal XML.
"""
