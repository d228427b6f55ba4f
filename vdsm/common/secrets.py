"""Secrets out of logs: mask values by key name, at any depth.

The schema marks whole parameters secret; values inside structs and lists
(an iSCSI CHAP ``password`` in ``connectionParams``, a fencing agent's
``password`` in its options) are recognised by their key name. Use
:func:`masked` on anything about to be logged, persisted in a task record
or dumped for a hook.
"""

from __future__ import annotations

from typing import Any

MASK = "****"

# Key names whose values are secrets wherever they appear (lower case).
SECRET_KEYS = frozenset({
    "password", "passwd", "secret", "key", "chap_password", "chappassword",
    "initiatorpassword", "targetpassword", "mutual_password", "token",
    "ticket", "authorization"})


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def masked(value: Any, *, depth: int = 100) -> Any:
    """A copy of ``value`` with every secret-keyed value replaced by MASK.

    Beyond ``depth`` levels the rest is replaced too: a log line needs no
    more, and nothing here may recurse without bound.
    """
    if depth <= 0:
        return "..."
    if isinstance(value, dict):
        return {k: MASK if is_secret_key(k) else masked(v, depth=depth - 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v, depth=depth - 1) for v in value]
    return value
