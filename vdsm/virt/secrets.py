"""Libvirt secrets for network disk authentication (registerSecrets).

The engine hands the passwords of Ceph/iSCSI/volume users; they become
ephemeral, private libvirt secrets (never on libvirt's disk, never given
back by libvirt) that disk XML names by UUID. A value is never logged,
never part of an error message and never part of the secret's XML.

Secrets of ours carry a usage id starting with ``ovirt/`` (the engine's
convention); ``clear`` removes only those, so secrets other tools keep
in the same libvirtd are left alone.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import libvirt
from lxml import etree

from vdsm.virt.domxml import secret as secret_xml
from vdsm.virt.errors import (
    BadSecretRequest,
    SecretRegistrationFailed,
    SecretUnregistrationFailed,
)

log = logging.getLogger(__name__)

OURS = "ovirt/"


@dataclass(frozen=True)
class Secret:
    uuid: str
    usage_type: str
    usage_id: str
    description: str
    value: bytes

    def __repr__(self) -> str:   # never the value, even in a traceback
        return f"Secret({self.uuid}, {self.usage_type}, {self.usage_id})"

    @classmethod
    def parse(cls, params: Any) -> Secret:
        """From the wire's SecretInfo; BadSecretRequest naming what is
        wrong (never the password)."""
        if not isinstance(params, dict):
            raise BadSecretRequest("Bad secret request: a secret must be a struct")
        try:
            uuid = str(uuidlib.UUID(str(params["uuid"])))
            usage_type = params["usageType"]
            usage_id = params["usageID"]
            password = params["password"]
        except KeyError as e:
            raise BadSecretRequest(f"Bad secret request: missing {e}") from None
        except ValueError:
            raise BadSecretRequest(f"Bad secret request: bad uuid "
                                   f"{params.get('uuid')!r}") from None
        if usage_type not in secret_xml.USAGE_NAME:
            raise BadSecretRequest(f"Bad secret request: {uuid}: usage type "
                                   f"{usage_type!r} is none of "
                                   f"{sorted(secret_xml.USAGE_NAME)}")
        if not isinstance(usage_id, str) or not usage_id:
            raise BadSecretRequest(f"Bad secret request: {uuid}: bad usageID")
        try:
            value = base64.b64decode(str(password), validate=True)
        except (binascii.Error, ValueError):
            raise BadSecretRequest(f"Bad secret request: {uuid}: the password "
                                   "is not base64") from None
        return cls(uuid, usage_type, usage_id,
                   str(params.get("description") or "needs updating"), value)

    def xml(self) -> str:
        return etree.tostring(secret_xml.element_for(
            self.uuid, self.usage_type, self.usage_id, self.description),
            encoding="unicode")


def register(conn: libvirt.virConnect, secrets: Any, *, clear: bool) -> None:
    """Define every secret (replacing one of the same UUID) and set its
    value; with ``clear`` undefine our other secrets. All are checked
    before any is defined (BadSecretRequest); SecretRegistrationFailed
    when libvirt refuses one (those defined before it stay)."""
    if not isinstance(secrets, list):
        raise BadSecretRequest("Bad secret request: secrets must be a list")
    parsed = [Secret.parse(s) for s in secrets]
    for secret in parsed:
        try:
            conn.secretDefineXML(secret.xml(), 0).setValue(secret.value, 0)
        except libvirt.libvirtError as e:
            raise SecretRegistrationFailed(
                f"Error registering Libvirt secret {secret.uuid}: "
                f"{e.get_error_message()}") from None
        log.info("registered secret %s (%s %s)", secret.uuid,
                 secret.usage_type, secret.usage_id)
    if clear:
        keep = {s.uuid for s in parsed}
        stale = [s.UUIDString() for s in conn.listAllSecrets(0)
                 if s.UUIDString() not in keep and _is_ours(s)]
        unregister(conn, stale)


def unregister(conn: libvirt.virConnect, uuids: Any) -> None:
    """Undefine the secrets; an unknown UUID is no error (already gone).
    SecretUnregistrationFailed when libvirt refuses."""
    if not isinstance(uuids, list):
        raise BadSecretRequest("Bad secret request: uuids must be a list")
    for uuid in uuids:
        try:
            conn.secretLookupByUUIDString(str(uuid)).undefine()
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_SECRET:
                log.debug("secret %s: not registered", uuid)
                continue
            raise SecretUnregistrationFailed(
                f"Error unregistering Libvirt secret {uuid}: "
                f"{e.get_error_message()}") from None
        log.info("unregistered secret %s", uuid)


def _is_ours(secret: libvirt.virSecret) -> bool:
    return (secret.usageID() or "").startswith(OURS)
