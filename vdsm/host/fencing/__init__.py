"""The fencing proxy: power-manage another host through its fence agent.

``agent_input`` builds the fence-agents stdin text, ``runner`` runs the
agent and maps its exit code to the classic answer, ``policy`` decides
whether the target still renews its storage leases, ``service`` ties them
together for Host.fenceNode.
"""
