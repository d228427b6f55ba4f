"""The host's memory and QoS policy engine (the classic MOM's place).

It lives under ``vdsm.host`` because what it balances is the host's:
free memory, swap and KSM are host resources, and one policy weighs all
guests against them. It reaches the VMs only through the narrow
:class:`~vdsm.host.policy.engine.Guests` seam the virt subsystem hands in
(records to read, balloon and I/O limits to set), never through virt's
internals.

Modules: :mod:`lang` parses the policy text into an AST, :mod:`interp`
interprets it (never ``eval``), :mod:`entities` are the Host and guest
objects a policy reads and controls, :mod:`rules` holds the default
policy, :mod:`engine` runs one cycle and applies the changes, and
:mod:`subsystem` plugs the engine into the agent.
"""
