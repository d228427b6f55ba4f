"""``<secret>``: a libvirt secret for network disk authentication.

Always ephemeral (never written to libvirt's disk) and private (libvirt
never gives its value back through its API); the value itself is never
part of the XML: it is set with virSecretSetValue.
"""

from __future__ import annotations

from vdsm.virt.domxml.base import Element, element, sub

# classic usageType -> the <usage> child naming the user of the secret
USAGE_NAME = {"ceph": "name", "volume": "volume", "iscsi": "target"}


def element_for(uuid: str, usage_type: str, usage_id: str,
                description: str) -> Element:
    """Raises KeyError for a usage type libvirt has no name child for."""
    root = element("secret", ephemeral="yes", private="yes")
    sub(root, "uuid", uuid)
    sub(root, "description", description)
    usage = sub(root, "usage", type=usage_type)
    sub(usage, USAGE_NAME[usage_type], usage_id)
    return root
