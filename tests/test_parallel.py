"""The one bounded executor: order, the window, and what an exception leaves unrun."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.parallel import bounded_map, run_bounded


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(), max_size=60),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=3),
)
def test_results_in_input_order_or_all_of_them(items: list[int], workers: int, per: int) -> None:
    ordered = list(
        bounded_map(lambda x: x * 2, items, workers=workers, name="t", window_per_worker=per)
    )
    assert ordered == [x * 2 for x in items]
    loose = bounded_map(lambda x: x * 2, items, workers=workers, name="t", ordered=False)
    assert sorted(loose) == sorted(x * 2 for x in items)


@pytest.mark.parametrize("ordered", [True, False])
def test_items_are_taken_only_as_the_window_frees(ordered: bool) -> None:
    """Never more than workers * window items submitted and not yet handed back."""
    taken = 0
    ahead: list[int] = []

    def items() -> Iterator[int]:
        for number in range(100):
            ahead.append(number - taken)  # submitted, not yet taken by the consumer
            yield number

    results = []
    for result in bounded_map(
        lambda x: x, items(), workers=2, name="t", window_per_worker=3, ordered=ordered
    ):
        results.append(result)
        taken += 1
    assert sorted(results) == list(range(100))
    assert max(ahead) + 1 == 2 * 3  # the item being pulled and those still out


def test_an_exception_is_raised_and_items_not_started_never_run() -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        with lock:
            ran.append(number)
        if number == 0:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_bounded(work, range(1000), workers=2, name="t")
    assert len(ran) < 1000
