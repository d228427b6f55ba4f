"""The dispatcher's call observer (``on_done``), which the metrics use."""

from __future__ import annotations

from vdsm.api import schema
from vdsm.api.dispatcher import CallContext, Dispatcher
from vdsm.common.errors import VdsmError

SCHEMA = schema.parse({"verbs": [
    {"name": "Host.ping", "classic": "ping", "params": []},
    {"name": "Host.refuse", "classic": "refuse", "params": []},
    {"name": "Host.boom", "classic": "boom", "params": []},
]})


class Refused(VdsmError):
    name = "NoSuchVM"


class Host:
    def ping(self):
        return None

    def refuse(self):
        raise Refused("no")

    def boom(self):
        raise RuntimeError("unexpected")


def test_on_done_sees_every_answered_call():
    seen = []
    d = Dispatcher(SCHEMA, {"Host": Host()},
                   on_done=lambda ctx, verb, code, elapsed: seen.append(
                       (ctx.transport, verb.name, code, elapsed)))
    ctx = CallContext(client="c", transport="xmlrpc")
    d.call_positional("ping", [], ctx)
    d.call_positional("refuse", [], ctx)
    d.call_positional("boom", [], ctx)
    d.call_positional("ping", ["extra"], ctx)     # refused before the call
    d.call_named("Host.ping", {}, ctx)
    names_codes = [(t, n, c) for t, n, c, _ in seen]
    assert names_codes == [("xmlrpc", "Host.ping", 0),
                           ("xmlrpc", "Host.refuse", 1),
                           ("xmlrpc", "Host.boom", 16),
                           ("xmlrpc", "Host.ping", 91),
                           ("xmlrpc", "Host.ping", 0)]
    assert all(elapsed >= 0 for *_, elapsed in seen)


def test_a_failing_observer_does_not_change_the_answer():
    def broken(ctx, verb, code, elapsed):
        raise ValueError("observer bug")

    d = Dispatcher(SCHEMA, {"Host": Host()})
    d.on_done = broken
    assert d.call_positional("ping", [])["status"]["code"] == 0
