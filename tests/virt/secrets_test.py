"""registerSecrets/unregisterSecrets against a private libvirtd through the
agent's API: ephemeral, private secrets; ``clear`` removes only ours; a
bad secret registers nothing; and the passwords appear in no log line of
the agent and in no file of libvirtd (configuration, state, logs)."""

from __future__ import annotations

import base64
import logging
import os
import uuid

import libvirt
import pytest

from tests.virt.harness import running_agent
from vdsm.virt import secrets
from vdsm.virt.errors import BadSecretRequest

PASSWORDS = [f"pw-{uuid.uuid4().hex}" for _ in range(3)]


def _secret(password: str, *, usage: str = "ceph", usage_id: str | None = None
            ) -> dict[str, str]:
    sid = str(uuid.uuid4())
    return {"uuid": sid, "usageType": usage,
            "usageID": usage_id or f"ovirt/{sid}", "description": "test disk",
            "password": base64.b64encode(password.encode()).decode()}


# --- parsing (pure) --------------------------------------------------------
def test_secret_xml_is_ephemeral_private_and_has_no_value():
    s = secrets.Secret.parse(_secret("s3cret", usage="iscsi",
                                     usage_id="iqn.2024-01.test:t"))
    assert s.value == b"s3cret"
    xml = s.xml()
    assert 'ephemeral="yes"' in xml and 'private="yes"' in xml
    assert "<target>iqn.2024-01.test:t</target>" in xml
    assert "s3cret" not in xml and "czNjcmV0" not in xml
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize("change", [
    {"password": "not base64!"}, {"usageType": "nfs"}, {"uuid": "nope"},
    {"usageID": ""}, {"password": None}])
def test_bad_secrets_name_the_fault_never_the_password(change):
    params = {k: v for k, v in {**_secret("hidden-pw"), **change}.items()
              if v is not None}
    with pytest.raises(BadSecretRequest) as e:
        secrets.Secret.parse(params)
    assert "hidden-pw" not in e.value.message
    assert "aGlkZGVuLXB3" not in e.value.message


# --- through the agent, against a real libvirtd ---------------------------
@pytest.fixture(scope="module")
def agent(own_libvirtd):
    yield from running_agent(own_libvirtd.uri)


def _ours(uri: str) -> dict[str, str]:
    conn = libvirt.open(uri)
    try:
        return {s.UUIDString(): s.XMLDesc(0) for s in conn.listAllSecrets(0)}
    finally:
        conn.close()


def test_register_clear_unregister(agent, own_libvirtd, caplog):
    caplog.set_level(logging.DEBUG)
    p = agent.proxy
    a, b, c = (_secret(pw) for pw in PASSWORDS)
    foreign = _secret("foreign-pw", usage="volume", usage_id="/var/lib/other/vol")
    conn = libvirt.open(own_libvirtd.uri)
    try:
        conn.secretDefineXML(secrets.Secret.parse(foreign).xml(), 0)
    finally:
        conn.close()

    assert p.registerSecrets([a, b])["status"]["code"] == 0
    listed = _ours(own_libvirtd.uri)
    assert {a["uuid"], b["uuid"], foreign["uuid"]} <= set(listed)
    assert "ephemeral='yes'" in listed[a["uuid"]] and \
        "private='yes'" in listed[a["uuid"]]
    conn = libvirt.open(own_libvirtd.uri)
    try:   # private: libvirt never gives the value back
        with pytest.raises(libvirt.libvirtError):
            conn.secretLookupByUUIDString(a["uuid"]).value(0)
    finally:
        conn.close()

    # clear: ours not in the list go, the foreign one stays
    assert p.registerSecrets([c], True)["status"]["code"] == 0
    listed = _ours(own_libvirtd.uri)
    assert c["uuid"] in listed and foreign["uuid"] in listed
    assert a["uuid"] not in listed and b["uuid"] not in listed

    # a bad secret in the list: 72 and nothing of the list registered
    bad = dict(_secret("x"), password="***")
    d = _secret("never-registered")
    assert p.registerSecrets([d, bad])["status"]["code"] == 72
    assert d["uuid"] not in _ours(own_libvirtd.uri)

    # unregister: an unknown UUID is no error
    assert p.unregisterSecrets([c["uuid"], str(uuid.uuid4())])["status"][
        "code"] == 0
    assert c["uuid"] not in _ours(own_libvirtd.uri)
    assert p.unregisterSecrets([foreign["uuid"]])["status"]["code"] == 0

    # never logged by the agent, never written by libvirtd
    texts = [caplog.text]
    for top, _, files in os.walk(own_libvirtd.base):
        for name in files:
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    texts.append(f.read().decode(errors="replace"))
    assert "registerSecrets" in caplog.text     # the calls were logged
    for secret in (a, b, c, d):
        for text in texts:
            assert secret["password"] not in text
            assert base64.b64decode(secret["password"]).decode() not in text
