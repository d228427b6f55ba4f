"""Exponential back-off with full jitter, bounded in step and in total."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator


def delays(initial: float, maximum: float, *,
           rand: Callable[[], float] = random.random) -> Iterator[float]:
    """Endless delays: step n waits uniform(step/2, step], step = min(max,
    initial * 2**n). Half the step is kept so retries never bunch at zero.
    """
    step = initial
    while True:
        yield step / 2 + rand() * step / 2
        step = min(maximum, step * 2)


def schedule(initial: float, maximum: float, deadline: float, *,
             clock: Callable[[], float] = time.monotonic,
             rand: Callable[[], float] = random.random) -> Iterator[float]:
    """Delays until ``deadline`` (a ``clock`` time, 0 = never ends); the last
    delay is cut so that it ends at the deadline."""
    for delay in delays(initial, maximum, rand=rand):
        if deadline:
            left = deadline - clock()
            if left <= 0:
                return
            delay = min(delay, left)
        yield delay
