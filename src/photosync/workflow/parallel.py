"""Ordered parallel map with a bounded look-ahead.

Hashing, decoding and downloading release the GIL, so threads keep both cores
busy; the window keeps memory flat however many items there are, and results
come back in input order so the caller (the only writer) stays simple.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def bounded_map(
    work: Callable[[In], Out],
    items: Iterable[In],
    *,
    workers: int,
    name: str,
    window_per_worker: int = 4,
) -> Iterator[Out]:
    """``map(work, items)`` on ``workers`` threads, at most ``workers * window_per_worker`` in flight."""
    workers = max(1, workers)
    window: deque[Future[Out]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        for item in items:
            window.append(pool.submit(work, item))
            if len(window) >= workers * window_per_worker:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
