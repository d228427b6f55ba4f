"""Live migration between hosts: the source's thread, the destination's
half, the convergence policy and the limits on concurrent migrations."""
