"""The conformance suite every service runs (like restic's or DVC's backend tests).

A service's test module subclasses ``SourceConformance`` and/or
``TargetConformance`` and provides the fixtures they name:

- ``source_case`` -> ``SourceCase``: a source service holding known items;
- ``target_case`` -> ``TargetCase``: a target service and a way to look inside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from photosync.model import Record, Visibility, new_record
from photosync.services.base import ListingReport, SourceService, TargetService


@dataclass
class SourceCase:
    service: SourceService
    #: instance_id -> sha256 hex of the bytes open_item must return
    expected: dict[str, str]
    #: changes one item's bytes or metadata and returns its instance_id
    change_one: Callable[[], str] | None = None


@dataclass
class TargetCase:
    service: TargetService
    #: what the service holds now: a list of (instance_id, sha256 hex, visibility or None)
    contents: Callable[[], list[tuple[str, str, str | None]]]
    photos: list[tuple[Record, bytes]] = field(default_factory=list)


def _listing(service: SourceService, **kwargs: Any) -> tuple[list[Any], ListingReport]:
    report = ListingReport()
    items = list(
        service.list_items(since=kwargs.get("since"), cursor=kwargs.get("cursor"), report=report)
    )
    return items, report


class SourceConformance:
    def test_lists_every_item_exactly_once(self, source_case: SourceCase) -> None:
        items, _ = _listing(source_case.service)
        ids = [item.instance_id for item in items]
        assert len(ids) == len(set(ids))
        assert sorted(ids) == sorted(source_case.expected)

    def test_listing_is_stable_when_nothing_changed(self, source_case: SourceCase) -> None:
        first, _ = _listing(source_case.service)
        second, _ = _listing(source_case.service)
        assert {i.instance_id: i.version for i in first} == {
            i.instance_id: i.version for i in second
        }

    def test_open_item_streams_the_expected_bytes(self, source_case: SourceCase) -> None:
        items, _ = _listing(source_case.service)
        for item in items:
            digest = hashlib.sha256()
            with source_case.service.open_item(item) as stream:
                while chunk := stream.read(1 << 16):
                    digest.update(chunk)
            assert digest.hexdigest() == source_case.expected[item.instance_id], item.instance_id

    def test_items_carry_what_discover_needs(self, source_case: SourceCase) -> None:
        items, _ = _listing(source_case.service)
        for item in items:
            assert item.instance_id and item.version and item.filename
            assert "/" not in item.filename and "\x00" not in item.filename
            assert item.quality in ("original", "high", "medium", "derivative")
            if item.visibility is not None:
                assert isinstance(item.visibility.level, Visibility)

    def test_a_change_shows_as_a_new_version(self, source_case: SourceCase) -> None:
        if source_case.change_one is None:
            pytest.skip("this service case cannot change an item")
        before = {i.instance_id: i.version for i in _listing(source_case.service)[0]}
        changed = source_case.change_one()
        after = {i.instance_id: i.version for i in _listing(source_case.service)[0]}
        assert after[changed] != before[changed]
        assert {k: v for k, v in after.items() if k != changed} == {
            k: v for k, v in before.items() if k != changed
        }

    def test_since_in_the_future_lists_nothing_new(self, source_case: SourceCase) -> None:
        items, _ = _listing(source_case.service, since=datetime.now(UTC) + timedelta(days=3650))
        assert items == []


def sample_record(
    data: bytes, *, name: str = "IMG_0001.jpg", taken: str = "2024-05-06T07:08:09"
) -> Record:
    digest = hashlib.sha256(data).hexdigest()
    record = new_record(
        content_hash=f"sha256:{digest}",
        size=len(data),
        media={"kind": "photo", "mime_type": "image/jpeg"},
        canonical_source="test:1",
        source_of_truth_path=None,
    )
    record["metadata"].update(
        {"filename": name, "taken_date": taken, "caption": "a caption", "tags": ["t1"]}
    )
    return record


class TargetConformance:
    def test_upload_then_find_existing(self, target_case: TargetCase) -> None:
        import io

        for record, data in target_case.photos:
            assert target_case.service.find_existing(record) is None
            result = target_case.service.upload(
                record, io.BytesIO(data), visibility=Visibility.PRIVATE
            )
            found = target_case.service.find_existing(record)
            assert found is not None and found.instance_id == result.instance_id
        held = target_case.contents()
        assert sorted(h[1] for h in held) == sorted(
            hashlib.sha256(d).hexdigest() for _, d in target_case.photos
        )

    def test_visibility_is_never_wider_than_asked(self, target_case: TargetCase) -> None:
        import io

        record, data = target_case.photos[0]
        target_case.service.upload(record, io.BytesIO(data), visibility=Visibility.PRIVATE)
        for _id, _digest, level in target_case.contents():
            assert level in (None, Visibility.PRIVATE.value)

    def test_max_visibility_is_a_level(self, target_case: TargetCase) -> None:
        assert isinstance(target_case.service.max_visibility(), Visibility)

    def test_search_lag_and_clock_are_declared(self, target_case: TargetCase) -> None:
        """replicate waits this long before it takes "not found" as "not uploaded"."""
        lag = target_case.service.search_lag_s
        assert isinstance(lag, int | float) and not isinstance(lag, bool) and lag >= 0
        assert isinstance(target_case.service.now(), float)
