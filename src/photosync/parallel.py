"""The one bounded parallel map: every pool of worker threads in photosync that works
through a list of items is this (the only other pool is ``web.thumbs``: a long-lived
one that serves page requests as they come).

Hashing, decoding, uploading and downloading release the GIL, so threads keep
both cores and the network busy; the window keeps memory flat however many
items there are (an item is submitted only when one in the window is taken),
and the caller, the only writer of what comes back, stays single-threaded.
Results come back in input order (``ordered``), or as they finish when one slow
item (a 20 MB upload among 100 KB ones) must not hold the window up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    ordered: bool = True,
) -> Iterator[Out]:
    """``map(work, items)`` on ``workers`` threads, at most ``workers * window_per_worker``
    submitted and not yet taken; ``items`` is read lazily, as the window frees.

    An exception of ``work`` is raised where its result would have come; items
    not started by then are cancelled, never run.
    """
    workers = max(1, workers)
    limit = workers * max(1, window_per_worker)
    window: deque[Future[Out]] = deque()
    running: set[Future[Out]] = set()
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        try:
            for item in items:
                future = pool.submit(work, item)
                if ordered:
                    window.append(future)
                    if len(window) >= limit:
                        yield window.popleft().result()
                else:
                    running.add(future)
                    if len(running) >= limit:
                        finished, running = wait(running, return_when=FIRST_COMPLETED)
                        for done in finished:
                            yield done.result()
            while window:
                yield window.popleft().result()
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for done in finished:
                    yield done.result()
        finally:
            for future in (*window, *running):
                future.cancel()


def run_bounded(
    work: Callable[[In], object], items: Iterable[In], *, workers: int, name: str
) -> None:
    """``work`` for every item on ``workers`` threads, in any order (bounded as above)."""
    for _ in bounded_map(work, items, workers=workers, name=name, ordered=False):
        pass
