"""Verb lookup: classic, namespaced and old vdsClient names."""

from __future__ import annotations

import pytest

from vdsm.api import schema
from vdsm_cli import verbs
from vdsm_cli.errors import UsageError

API = schema.load()


def test_classic_namespaced_and_alias():
    caps = API.get("Host.getCapabilities")
    assert verbs.resolve(API, "getVdsCapabilities") is caps
    assert verbs.resolve(API, "Host.getCapabilities") is caps
    assert verbs.resolve(API, "getVdsCaps") is caps
    assert verbs.aliases_of(caps) == ["getVdsCaps"]
    assert verbs.call_name(caps) == "getVdsCapabilities"


def test_aliases_only_for_names_that_differ():
    for alias in verbs.ALIASES:
        assert API.get(alias) is None


def test_unknown_verb_suggests_close_names():
    with pytest.raises(UsageError) as e:
        verbs.resolve(API, "getvdscaps")
    assert "getVdsCaps" in e.value.message
    with pytest.raises(UsageError) as e:
        verbs.resolve(API, "xyzzy")
    assert "did you mean" not in e.value.message
