"""vdsm: the host agent of a managed virtualization node."""

__version__ = "0.1.0"
