""" "Apply to all conflicts like this" (``resolve.like_this``): which waiting conflicts a
bulk answer reaches, for every mix of records (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.model import needs_decision
from photosync.workflow.resolve import Decision, like_this

LEVELS = ("private", "friends", "public")


def _visibility(photo: int, shown: str, status: str) -> dict[str, Any]:
    return {
        "id": "visibility_conflict:canonical",
        "type": "visibility_conflict",
        "field": "visibility",
        "description": f"shown more widely on flickr ({shown})",
        "services": ["flickr"],
        "resolution_required": True,
        "status": status,
        "options": [
            {"source": "canonical", "value": "private"},
            {"source": "flickr", "value": shown},
        ],
        "resolution": None,
    }


def _record(photo: int, year: int | None, conflicts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "photo_id": f"00000000-0000-0000-0000-{photo:012d}",
        "metadata": {"taken_date": f"{year}-06-01T12:00:00" if year else None},
        "conflicts": conflicts,
    }


photos = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(2010, 2025)),
        st.sampled_from(LEVELS[1:]),
        st.sampled_from(("open", "skipped", "resolved")),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150)
@given(photos=photos, before=st.one_of(st.none(), st.integers(2012, 2024)))
def test_approving_public_as_on_flickr_reaches_exactly_the_photos_flickr_shows_public(
    photos: list[tuple[int | None, str, str]], before: int | None
) -> None:
    records = [
        _record(index, year, [_visibility(index, shown, status)])
        for index, (year, shown, status) in enumerate(photos)
    ]
    clicked = _visibility(0, "public", "open")
    found = like_this(records, clicked, "flickr", taken_before=before)
    expected = [
        Decision(record["photo_id"], "visibility_conflict:canonical", "flickr")
        for record, (year, shown, _status) in zip(records, photos, strict=True)
        if needs_decision(record["conflicts"][0])
        and shown == "public"  # never approve friends where the answer was "public"
        and (before is None or (year is not None and year < before))
    ]
    assert found == expected


def test_an_edit_pair_is_answered_once_and_a_custom_value_never_repeats() -> None:
    def edit(other: int) -> dict[str, Any]:
        return {
            "id": f"edit_variant:00000000-0000-0000-0000-{other:012d}",
            "type": "edit_variant",
            "field": None,
            "status": "open",
            "resolution_required": True,
            "options": [
                {"source": "separate", "value": "keep both"},
                {"source": "merge", "value": "join"},
            ],
        }

    records = [_record(1, 2020, [edit(2)]), _record(2, 2020, [edit(1)])]
    found = like_this(records, edit(2), "separate")
    assert [d.photo_id for d in found] == [records[0]["photo_id"]]
    caption = {
        "id": "metadata_mismatch:caption",
        "type": "metadata_mismatch",
        "field": "caption",
        "status": "open",
        "resolution_required": True,
        "options": [{"source": "a", "value": "x"}, {"source": "b", "value": "y"}],
    }
    assert like_this([_record(3, 2020, [caption])], caption, "custom") == []
    assert like_this([_record(3, 2020, [caption])], caption, "a") == [
        Decision("00000000-0000-0000-0000-000000000003", "metadata_mismatch:caption", "a")
    ]
