"""API call counts, errors and latency, fed by the dispatcher's observer.

``observe`` is the dispatcher's ``on_done`` callback: it runs on the
request's thread after every answered call, so it only bumps counters
(prometheus_client metrics are thread-safe). Verbs come from the schema,
so the ``verb`` label has a bounded set of values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from vdsm.api.dispatcher import CallContext
from vdsm.api.schema import Verb

# Seconds: cheap getters answer in ms; storage verbs can take a minute.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, 60.0, 120.0)
LABELS = ("verb", "binding")


def binding(ctx: CallContext) -> str:
    """The binding of a call: "xmlrpc+tls" and "xmlrpc" are both xmlrpc."""
    return ctx.transport.partition("+")[0]


class ApiCalls:
    """The call series, registered in ``registry``; thread-safe."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._calls = Counter("vdsm_api_calls", "API calls answered.",
                              LABELS, registry=registry)
        self._errors = Counter("vdsm_api_errors",
                               "API calls answered with a non-zero code.",
                               LABELS, registry=registry)
        self._latency = Histogram("vdsm_api_call_duration_seconds",
                                  "Time from a call's arrival to its answer.",
                                  LABELS, buckets=BUCKETS, registry=registry)

    def observe(self, ctx: CallContext, verb: Verb, code: int,
                elapsed: float) -> None:
        labels = (verb.name, binding(ctx))
        self._calls.labels(*labels).inc()
        if code != 0:
            self._errors.labels(*labels).inc()
        self._latency.labels(*labels).observe(elapsed)
