"""The last few cycles' figures, for ``StatAvg``.

Classic MOM keeps ``sample-history-length`` (10) samples per entity and
``StatAvg`` averages a figure over them; a policy that reacts to an
average rides out a single noisy reading. One :class:`History` keeps the
host's and each guest's last :data:`LENGTH` figure maps, by entity key; a
guest no longer seen is forgotten. Not thread-safe: the cycle thread alone
uses it.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

LENGTH = 10   # classic MOM's sample-history-length


class History:
    def __init__(self, length: int = LENGTH) -> None:
        if length < 1:
            raise ValueError(f"history length must be positive: {length}")
        self.length = length
        self._samples: dict[str, deque[dict[str, Any]]] = {}

    def add(self, key: str, figures: dict[str, Any]) -> deque[dict[str, Any]]:
        """Record this cycle's figures of ``key``; return its samples
        (oldest first, this one last)."""
        samples = self._samples.setdefault(key, deque(maxlen=self.length))
        samples.append(figures)
        return samples

    def keep_only(self, keys: Iterable[str]) -> None:
        """Forget the entities not in ``keys`` (VMs gone)."""
        alive = set(keys)
        for gone in set(self._samples) - alive:
            del self._samples[gone]


def average(samples: Iterable[dict[str, Any]], name: str) -> float | None:
    """The mean of the numeric values of ``name`` over ``samples`` (None
    when no sample has one: unknown, as ``Stat`` of a missing figure)."""
    values = [s[name] for s in samples
              if isinstance(s.get(name), (int, float))
              and not isinstance(s.get(name), bool)]
    return sum(values) / len(values) if values else None
