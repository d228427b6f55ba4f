"""VM verbs refuse a vmId that is not a string before any lookup (a list
or a dict reached the VM registry's dict and failed as an internal
error: found by the fuzzer on VM.migrate)."""

from __future__ import annotations

import pytest

from vdsm.api.vm import VmVerbs
from vdsm.common.errors import InvalidParameter, MissingParameter


class NoService:
    def __getattr__(self, name: str):
        raise AssertionError(f"the service was asked: {name}")


@pytest.mark.parametrize("vm_id", [["a"], {"a": 1}, 7])
def test_a_vm_id_that_is_not_a_string_is_an_invalid_parameter(vm_id):
    verbs = VmVerbs(NoService())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        verbs.migrate({"vmId": vm_id})
    with pytest.raises(InvalidParameter):
        verbs.migration_create({"vmId": vm_id})


def test_no_vm_id_is_a_missing_parameter():
    with pytest.raises(MissingParameter):
        VmVerbs(NoService()).migrate({})  # type: ignore[arg-type]
