"""Rules about a record that must hold for every input (photosync.model): typed custom values,
the name a person sees, which conflicts still wait."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.preferences import load_preferences
from photosync.archive.schema import validate_record
from photosync.errors import ConfigError
from photosync.model import (
    CIRCA_YEARS,
    Record,
    coarse_date_covers,
    date_precision,
    dates_agree,
    display_name,
    find_offset,
    needs_decision,
    new_record,
    parse_custom,
    preference_matches,
    waiting_reasons,
    weak_metadata_date,
)


def _record() -> Record:
    return new_record(
        content_hash="sha256:" + "ab" * 32,
        size=10,
        media={"kind": "photo", "mime_type": "image/jpeg"},
        canonical_source="test:1",
        source_of_truth_path=None,
    )


@settings(deadline=None)  # the first call compiles the schema
@given(
    st.datetimes(min_value=datetime(1826, 1, 1), max_value=datetime(2200, 12, 31)),
    st.sampled_from(["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]),
)
def test_a_typed_date_is_a_valid_taken_date_of_the_same_moment(
    moment: datetime, shape: str
) -> None:
    typed = moment.strftime(shape)
    value = parse_custom("taken_date", typed)
    record = _record()
    record["metadata"]["taken_date"] = value
    validate_record(record)
    assert datetime.fromisoformat(value) == datetime.strptime(typed, shape)


@settings(deadline=None)
@given(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
    st.sampled_from([", ", ",", " ", " , "]),
)
def test_a_typed_place_is_a_valid_location(lat: float, lng: float, sep: str) -> None:
    value = parse_custom("location", f"{lat!r}{sep}{lng!r}")
    assert value == {"lat": lat, "lng": lng}
    record = _record()
    record["metadata"]["location"] = value
    validate_record(record)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: abs(v) > 90))
def test_a_latitude_beyond_a_pole_is_refused(lat: float) -> None:
    with pytest.raises(ValueError):
        parse_custom("location", f"{lat!r}, 0")


@given(st.lists(st.text(alphabet="abc xyz,", max_size=8), max_size=5))
def test_typed_tags_are_a_set_without_blanks(parts: list[str]) -> None:
    value = parse_custom("tags", ",".join(parts))
    assert value == sorted(set(value)) and all(t and t == t.strip() for t in value)


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.text(alphabet="abcdefgh _-", min_size=1, max_size=12).filter(lambda s: s.strip()),
    st.booleans(),
)
def test_the_shown_name_is_a_real_file_name_when_any_copy_has_one(
    flickr_id: str, stem: str, flickr_first: bool
) -> None:
    record = _record()
    made_up = f"{flickr_id}.jpg"
    real = f"{stem}.jpg"
    record["metadata"]["filename"] = made_up if flickr_first else real
    record["instances"] = {
        "flickr": [{"id": flickr_id, "observed": {"filename": made_up}}],
        "phone": [{"id": f"dcim/{real}", "observed": {"filename": real}}],
    }
    assert display_name(record) == real


@given(
    st.text(alphabet="abcdefgh _-", min_size=1, max_size=12).filter(lambda s: s.strip()),
    st.text(alphabet="abcdefgh _-", min_size=1, max_size=12).filter(lambda s: s.strip()),
    st.booleans(),
)
def test_a_name_made_from_a_flickr_title_yields_to_a_real_file_name(
    title: str, stem: str, flickr_first: bool
) -> None:
    record = _record()
    titled, real = f"{title}.png", f"{stem}.png"
    record["metadata"]["filename"] = titled if flickr_first else real
    flickr = {"id": "42", "observed": {"filename": titled}, "extra": {"name_from": "title"}}
    record["instances"] = {"flickr": [flickr]}
    record["instances"]["phone"] = [{"id": f"dcim/{real}", "observed": {"filename": real}}]
    assert display_name(record) == real
    record["instances"] = {"flickr": [flickr, {"id": "43", "observed": {"filename": "43.png"}}]}
    record["metadata"]["filename"] = "43.png"
    assert display_name(record) == titled  # a title's name beats a bare id


@given(st.sampled_from(["open", "skipped", "resolved"]), st.booleans())
def test_a_skipped_question_still_waits(status: str, required: bool) -> None:
    conflict = {"status": status, "resolution_required": required, "description": "d"}
    assert needs_decision(conflict) == (required and status != "resolved")
    record = _record()
    record["conflicts"] = [conflict]
    reasons = waiting_reasons(record)
    if needs_decision(conflict):
        assert reasons == [f"{status}: d"]
    else:
        assert reasons == ["not examined by `photosync resolve` yet"]


@given(
    wall=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    quarters=st.integers(min_value=-56, max_value=56),
    jitter=st.integers(min_value=-59, max_value=59),
)
def test_a_wall_clock_and_its_utc_instant_give_the_offset(
    wall: datetime, quarters: int, jitter: int
) -> None:
    """Any zone within +-14 h, the two a few seconds apart: that zone is found, and they agree."""
    wall = wall.replace(microsecond=0)
    utc = (wall - timedelta(minutes=15 * quarters, seconds=jitter)).replace(tzinfo=UTC)
    naive, instant = wall.isoformat(), utc.isoformat().replace("+00:00", "Z")
    minutes = abs(quarters) * 15
    expected = f"{'+' if quarters >= 0 else '-'}{minutes // 60:02d}:{minutes % 60:02d}"
    assert find_offset(naive, instant) == expected
    assert dates_agree(naive, instant) and dates_agree(instant, naive)


@given(
    wall=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    apart=st.integers(min_value=15 * 3600, max_value=400 * 86400),
)
def test_an_edited_date_is_no_time_zone(wall: datetime, apart: int) -> None:
    """More than 14 h (and a minute) apart: no offset explains it, the sources disagree."""
    wall = wall.replace(microsecond=0)
    utc = (wall - timedelta(seconds=apart)).replace(tzinfo=UTC)
    assert find_offset(wall.isoformat(), utc.isoformat()) is None
    assert not dates_agree(wall.isoformat(), utc.isoformat())


def _copy(tags: list[str]) -> dict[str, Any]:
    return {
        "id": "1",
        "quality": "original",
        "last_sync": "2026-01-01T00:00:00Z",
        "observed": {"tags": tags, "caption": None, "taken_date": None},
    }


def test_resolve_and_replicate_compare_tags_by_one_rule() -> None:
    """Flickr keeps a pushed tag "New York" as "newyork": replicate saw nothing left to push
    while resolve raised a tags conflict between the folder's copy and Flickr's, forever."""
    from photosync.archive.seals import ApprovalSeals
    from photosync.workflow.replicate import _stale_fields
    from photosync.workflow.resolve import analyze

    record = _record()
    record["metadata"]["tags"] = ["New York", "beach"]
    record["instances"] = {
        "real": [_copy(["New York", "beach"])],
        "flickr": [_copy(["newyork", "Beach"])],
    }
    assert _stale_fields(record, record["instances"]["flickr"][0]) == {}
    analyze(record, set(), seals=ApprovalSeals(None))
    assert [c["id"] for c in record["conflicts"]] == []
    assert record["metadata"]["tags"] == ["New York", "beach"]


@given(st.lists(st.text(max_size=12), max_size=5), st.booleans(), st.booleans())
def test_tags_folded_as_a_service_folds_them_are_the_same_tags(
    tags: list[str], lower: bool, squeeze: bool
) -> None:
    from photosync.model import comparable

    folded = [t.lower() if lower else t for t in tags]
    folded = ["".join(t.split()) if squeeze else t for t in folded]
    assert comparable("tags", tags) == comparable("tags", folded)


def test_the_tag_subset_rule_keeps_the_tags_as_a_copy_states_them() -> None:
    from photosync.archive.seals import ApprovalSeals
    from photosync.workflow.resolve import analyze

    record = _record()
    record["instances"] = {
        "real": [_copy(["New York", "Beach"])],
        "flickr": [_copy(["newyork"])],
    }
    assert analyze(record, {"missing_metadata"}, seals=ApprovalSeals(None)) == ["missing_metadata"]
    assert record["metadata"]["tags"] == ["Beach", "New York"]


@given(
    coarse=st.dates(min_value=date(1850, 1, 1), max_value=date(2100, 12, 31)),
    other=st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2100, 12, 31)),
    precision=st.sampled_from(["month", "year", "circa"]),
)
def test_a_coarse_date_covers_exactly_its_period(
    coarse: date, other: datetime, precision: str
) -> None:
    stored = coarse.replace(day=1) if precision == "month" else coarse.replace(month=1, day=1)
    covered = coarse_date_covers(stored.isoformat(), precision, other.isoformat())
    if precision == "month":
        assert covered == ((other.year, other.month) == (stored.year, stored.month))
    elif precision == "year":
        assert covered == (other.year == stored.year)
    else:
        assert covered == (abs(other.year - stored.year) <= CIRCA_YEARS)
    assert date_precision(f"flickr:datetaken({precision})") == precision
    assert weak_metadata_date(
        {"taken_date": stored.isoformat(), "taken_date_source": f"flickr:datetaken({precision})"}
    )
    assert not weak_metadata_date({"taken_date": stored.isoformat(), "taken_date_source": "user"})


@pytest.mark.parametrize(
    ("preference", "label", "service", "tag", "split", "matches"),
    [
        # a service's name: what the service states, never its file's own EXIF
        ("google-photos", "google-photos:google-takeout:photoTakenTime", "google-photos",
         "google-takeout:photoTakenTime", True, True),
        ("google-photos", "google-photos:exif:DateTimeOriginal", "google-photos",
         "exif:DateTimeOriginal", True, False),
        ("flickr", "flickr", "flickr", "exif:DateTimeOriginal", False, True),
        ("flickr", "phone", "phone", "exif:DateTimeOriginal", False, False),
        ("file", "google-photos:exif:DateTimeOriginal", "google-photos",
         "exif:DateTimeOriginal", True, True),
        ("file", "flickr", "flickr", "flickr:datetaken", False, False),
        ("exif", "phone", "phone", "exif:DateTimeOriginal", False, True),
        ("google-takeout:geoDataExif", "g:google-takeout:geoDataExif", "g",
         "google-takeout:geoDataExif", True, True),
        ("phone:dcim/a.jpg", "phone:dcim/a.jpg", "phone", None, False, True),
    ],
)  # fmt: skip
def test_a_preference_names_the_options_it_says(
    preference: str, label: str, service: str, tag: str | None, split: bool, matches: bool
) -> None:
    found = preference_matches(preference, label=label, service=service, tag=tag, split=split)
    assert found is matches


def test_prefer_in_preferences_is_checked_like_every_key() -> None:
    assert load_preferences({"prefer": {"taken_date": ["google-photos", "file"]}})["prefer"] == {
        "taken_date": ["google-photos", "file"]
    }
    for wrong in ({"taken": ["x"]}, {"taken_date": "google-photos"}, {"caption": [""]}):
        with pytest.raises(ConfigError):
            load_preferences({"prefer": wrong})
