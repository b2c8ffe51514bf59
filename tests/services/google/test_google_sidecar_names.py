"""Sidecar naming rules must pair every media file with its own sidecar, for all names."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from photosync.emulators.takeout import sidecar_name
from photosync.services.google.takeout import (
    edit_parent_name,
    match_sidecars,
    motion_stem,
    parse_sidecar,
    split_ext,
)

EXTS = [".jpg", ".JPG", ".jpeg", ".heic", ".HEIC", ".png", ".mp4", ".MOV", ".gif"]
stems = st.text(
    alphabet=st.sampled_from(list("abcXYZ0189 _-.éß☕()")), min_size=1, max_size=60
).filter(lambda s: s.strip(". ") == s and not s.endswith(")"))


@st.composite
def folder(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    """A folder's media names, each with the sidecar Google would write, and titles."""
    count = draw(st.integers(min_value=1, max_value=6))
    expected: dict[str, str] = {}
    titles: dict[str, str] = {}
    for _ in range(count):
        stem = draw(stems)
        ext = draw(st.sampled_from(EXTS))
        uploaded = stem + ext
        form = draw(st.sampled_from(["old", "new"]))
        drop_ext = form == "new" and draw(st.booleans())
        copies = draw(st.integers(min_value=0, max_value=2))
        for counter in range(copies + 1):
            media = f"{stem}({counter}){ext}" if counter else uploaded
            side = sidecar_name(uploaded, form=form, counter=counter, drop_ext=drop_ext)
            if media in expected or side in expected.values():
                continue  # Google would have numbered these apart
            expected[media] = side
            titles[side] = uploaded
    return expected, titles


@settings(max_examples=400, deadline=None)
@given(folder())
def test_every_media_finds_its_own_sidecar(case: tuple[dict[str, str], dict[str, str]]) -> None:
    expected, titles = case
    assert match_sidecars(expected, expected.values(), titles) == expected


@settings(max_examples=300, deadline=None)
@given(stems, st.sampled_from(EXTS), st.sampled_from(["old", "new"]))
def test_single_pair_matches_without_a_title(stem: str, ext: str, form: str) -> None:
    media = stem + ext
    side = sidecar_name(media, form=form)
    assert match_sidecars([media], [side]) == {media: side}


@settings(max_examples=200, deadline=None)
@given(stems, st.sampled_from(EXTS), st.sampled_from(EXTS))
def test_unrelated_sidecars_are_not_matched(stem: str, ext: str, other_ext: str) -> None:
    assume(ext.lower() != other_ext.lower())
    other = "Z" + stem + other_ext
    assume(len(other) < 40)
    assert match_sidecars([stem + ext], [sidecar_name(other)]) == {}


@given(
    st.sampled_from(["-edited", "-bearbeitet", "-modifié", "-modificato", "-editado"]),
    stems,
    st.sampled_from(EXTS),
)
def test_edited_copies_find_their_original(suffix: str, stem: str, ext: str) -> None:
    original = stem + ext
    edited = stem + suffix + ext
    assert edit_parent_name(edited, [original, edited]) == (original, suffix)
    assert edit_parent_name(original, [original, edited]) is None


def test_motion_stems_pair_live_halves() -> None:
    assert motion_stem("IMG_1.HEIC") == motion_stem("IMG_1.MOV")
    assert motion_stem("PXL_1.MP.jpg") == motion_stem("PXL_1.MP") == "PXL_1"
    assert motion_stem("PXL_1.jpg") == motion_stem("PXL_1.MV")
    assert split_ext("Peanut Butter Balls") == ("Peanut Butter Balls", "")


@given(st.integers(min_value=1, max_value=4_102_444_800))
def test_taken_time_is_utc_epoch_for_any_timestamp(seconds: int) -> None:
    from datetime import UTC, datetime

    facts = parse_sidecar(
        {"photoTakenTime": {"timestamp": str(seconds), "formatted": "1 janv. 1970, 00:00"}}
    )
    assert facts.taken_date is not None
    assert datetime.fromisoformat(
        facts.taken_date.replace("Z", "+00:00")
    ) == datetime.fromtimestamp(seconds, tz=UTC)


@given(st.sampled_from([None, "0", 0, "", "abc", -62135596800, "-62135596800", True]))
def test_missing_or_zero_timestamp_gives_no_date(value: object) -> None:
    """Google's placeholders (0, year 1) are no date; a real date before 1970 is kept
    (``test_a_takeout_date_before_1970_is_kept``)."""
    data = {} if value is None else {"photoTakenTime": {"timestamp": value}}
    assert parse_sidecar(data).taken_date is None


@given(
    st.floats(min_value=-89, max_value=89, allow_nan=False).filter(lambda v: abs(v) > 1e-6),
    st.floats(min_value=-179, max_value=179, allow_nan=False).filter(lambda v: abs(v) > 1e-6),
)
def test_geo_exif_wins_unless_zero(lat: float, lng: float) -> None:
    zero = {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0}
    other = {"latitude": 1.0, "longitude": 1.0, "altitude": 0.0}
    point = {"latitude": lat, "longitude": lng, "altitude": 0.0}
    assert parse_sidecar({"geoData": other, "geoDataExif": point}).location == {
        "lat": lat,
        "lng": lng,
    }
    assert parse_sidecar({"geoData": point, "geoDataExif": zero}).location == {
        "lat": lat,
        "lng": lng,
    }
    assert parse_sidecar({"geoData": zero, "geoDataExif": zero}).location is None
