"""Chaos suite options and shared fixtures.

``--trials N`` (or ``PHOTOSYNC_CHAOS_TRIALS=N``) sets how many random kill
points each crash test tries; CI runs the default 5. ``PHOTOSYNC_CHAOS_SEED``
shifts every kill point, so a long local run explores new ones::

    python -m pytest tests/chaos --trials 50
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

DEFAULT_TRIALS = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--trials",
        type=int,
        default=None,
        help="random kill points per crash test in tests/chaos (default 5, or $PHOTOSYNC_CHAOS_TRIALS)",
    )


def trial_count(config: pytest.Config) -> int:
    given = config.getoption("--trials", default=None)
    if given is None:
        given = int(os.environ.get("PHOTOSYNC_CHAOS_TRIALS", DEFAULT_TRIALS))
    return max(1, int(given))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "trial" in metafunc.fixturenames:
        metafunc.parametrize("trial", range(trial_count(metafunc.config)))


@pytest.fixture
def fresh_bucket(s3_admin: Any) -> Iterator[str]:
    name = f"chaos-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=name)
    yield name
