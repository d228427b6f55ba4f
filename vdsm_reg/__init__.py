"""vdsm-reg: register this host with a manager and install what it signs.

A small service of its own (``vdsm-reg``), separate from vdsmd: when
``[registration] manager_url`` is set it asks the manager for its CA,
sends the host's identity and a certificate request, retries with a
bounded, jittered back-off until the manager approves, then installs the
manager's CA and the signed host certificate into the agent's trust store.
See docs/registration.md for the exchange.
"""
