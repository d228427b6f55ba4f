"""The agent's own data in the domain's ``<metadata>``.

What recovery needs after vdsmd restarts (even after SIGKILL) lives with
the domain itself: the VM definition (classic conf, JSON) and the start
time. libvirt keeps it for the life of the domain and in saved images.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from vdsm.virt.domxml.base import Element, from_string, sub

NAMESPACE = "http://ovirt.org/vm/1.0"
PREFIX = "ovirt-vm"
_Q = f"{{{NAMESPACE}}}"


def element_for(conf: dict[str, Any], *, start_time: float,
                namespaced: bool = True) -> Element:
    """The ``<ovirt-vm:vm>`` element of a domain XML; ``namespaced=False``
    gives the bare form virDomainSetMetadata wants (it adds the namespace
    itself from its key and URI arguments)."""
    q = _Q if namespaced else ""
    nsmap = {PREFIX: NAMESPACE} if namespaced else None
    root = etree.Element(f"{q}vm", nsmap=nsmap)
    sub(root, f"{q}conf", json.dumps(conf, sort_keys=True))
    sub(root, f"{q}startTime", f"{start_time:.3f}")
    return root


def read(domain_xml: str) -> dict[str, Any] | None:
    """``{'conf': {...}, 'startTime': float}`` or None when not ours.

    Accepts a whole domain XML or the metadata element alone (as
    virDomainGetMetadata returns it). Raises ValueError on a corrupt conf.
    """
    root = from_string(domain_xml)
    if root.tag in (f"{_Q}vm", "vm"):
        # virDomainGetMetadata gives the element back without its namespace.
        node, q = root, "" if root.tag == "vm" else _Q
    else:
        node, q = root.find(f"metadata/{_Q}vm"), _Q
    if node is None:
        return None
    conf_text = node.findtext(f"{q}conf")
    if not conf_text:
        return None
    try:
        conf = json.loads(conf_text)
    except ValueError as e:
        raise ValueError(f"corrupt VM metadata: {e}") from None
    start = node.findtext(f"{q}startTime")
    return {"conf": conf, "startTime": float(start) if start else 0.0}
