"""The allowlist registry and its argument validation (in process)."""

from __future__ import annotations

import os

import pytest

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.config import Config
from vdsm.supervdsm import ops
from vdsm.supervdsm.errors import UnknownOperation


@pytest.fixture
def ctx() -> ops.OpContext:
    return ops.OpContext(config=Config(),
                         peer=ops.Peer(pid=os.getpid(), uid=0, gid=0))


@pytest.fixture
def allowlist() -> dict[str, ops.Operation]:
    return ops.load()


def test_initial_allowlist(allowlist):
    assert {"ping", "chown_path", "mkdir_owned", "set_ksm", "mount",
            "umount"} <= set(allowlist)
    for op in allowlist.values():
        assert op.doc, f"op {op.name} has no docstring"


def test_dispatch_runs_op(allowlist, ctx):
    assert ops.dispatch(allowlist, "ping", {}, ctx) == {
        "pid": os.getpid(), "uid": os.getuid()}


def test_unknown_op(allowlist, ctx):
    with pytest.raises(UnknownOperation) as e:
        ops.dispatch(allowlist, "rm_rf", {}, ctx)
    assert e.value.name == "MethodNotImplemented"


@pytest.mark.parametrize("args, error, text", [
    ({"path": "/run/vdsm/x"}, MissingParameter, "user"),
    ({"path": "/run/vdsm/x", "user": "root", "bogus": 1}, InvalidParameter,
     "unexpected"),
    ({"path": 5, "user": "root"}, InvalidParameter, "'path' must be of type str"),
    ({"path": "/run/vdsm/x", "user": None}, InvalidParameter, "'user'"),
    ({"path": "/run/vdsm/x", "user": "root", "group": 0}, InvalidParameter,
     "'group'"),
    ({"path": "/run/\0x", "user": "root"}, InvalidParameter, "'path'"),
    ({"path": "/" + "a" * ops.MAX_STRING, "user": "root"}, InvalidParameter,
     "'path'"),
])
def test_argument_validation(allowlist, ctx, args, error, text):
    with pytest.raises(error, match=text):
        ops.dispatch(allowlist, "chown_path", args, ctx)


def test_bool_is_not_int_and_int_is_not_bool(allowlist, ctx):
    with pytest.raises(InvalidParameter, match="pages_to_scan"):
        ops.dispatch(allowlist, "set_ksm", {"run": False, "pages_to_scan": True},
                     ctx)
    with pytest.raises(InvalidParameter, match="'run'"):
        ops.dispatch(allowlist, "set_ksm", {"run": 0, "pages_to_scan": 10}, ctx)


def test_float_accepts_int_but_not_string(allowlist, ctx):
    op = allowlist["umount"]
    ops.validate(op, {"target": "/x", "timeout": 5})
    with pytest.raises(InvalidParameter, match="timeout"):
        ops.validate(op, {"target": "/x", "timeout": "5"})


def test_nested_types():
    def probe(ctx: ops.OpContext, *, names: list[str],
              env: dict[str, int] | None = None) -> None:
        """A test op."""

    sig = ops._signature(probe)
    op = ops.Operation("probe", probe, sig)
    ops.validate(op, {"names": ["a", "b"], "env": {"x": 1}})
    ops.validate(op, {"names": [], "env": None})
    for bad in ({"names": ["a", 1]}, {"names": "ab"},
                {"names": [], "env": {"x": "1"}}):
        with pytest.raises(InvalidParameter):
            ops.validate(op, bad)


def test_registration_rejects_unvalidatable_signatures():
    def positional(ctx: ops.OpContext, path: str) -> None:
        """Positional arguments are not allowed."""

    def untyped(ctx: ops.OpContext, *, path) -> None:
        """Every argument needs a type."""

    def opaque(ctx: ops.OpContext, *, obj: object) -> None:
        """Only JSON types."""

    for func in (positional, untyped, opaque):
        with pytest.raises(TypeError):
            ops.operation(func)
    assert not {"positional", "untyped", "opaque"} & set(ops.load())


def test_duplicate_name_refused(allowlist):
    def ping(ctx: ops.OpContext) -> None:
        """Another ping."""

    with pytest.raises(ValueError, match="twice"):
        ops.operation(ping)
    assert ops.load()["ping"].func is allowlist["ping"].func


def test_secret_args_masked_in_log(caplog, ctx):
    def secret_probe(ctx: ops.OpContext, *, user: str, password: str) -> str:
        """Log masking test."""
        return user

    op = ops.Operation("secret_probe", secret_probe,
                       ops._signature(secret_probe), frozenset({"password"}))
    with caplog.at_level("INFO", logger="vdsm.supervdsm.ops"):
        assert ops.dispatch({"secret_probe": op}, "secret_probe",
                            {"user": "u", "password": "hunter2"}, ctx) == "u"
    assert "hunter2" not in caplog.text
    assert "****" in caplog.text
