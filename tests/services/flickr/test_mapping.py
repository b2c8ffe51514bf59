"""Flickr field mapping: rules that must hold for every input."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import photosync
from photosync.emulators.flickr import parse_tag_string
from photosync.model import Visibility
from photosync.services.flickr.mapping import (
    flags_for_visibility,
    flickr_date_from_iso,
    remote_item_from_listing,
    split_tags,
    tags_argument,
    taken_date_from_flickr,
    taken_date_source,
    to_int,
    visibility_from_flags,
)

flag = st.sampled_from([0, 1, "0", "1"])


@given(is_public=flag, is_friend=flag, is_family=flag)
def test_flickr_triple_maps_by_the_documented_rule(
    is_public: object, is_friend: object, is_family: object
) -> None:
    observed = visibility_from_flags(is_public, is_friend, is_family)
    triple = tuple(int(str(v)) for v in (is_public, is_friend, is_family))
    if triple[0] == 1:
        assert observed.level is Visibility.PUBLIC
    elif triple == (0, 0, 0):
        assert observed.level is Visibility.PRIVATE
    else:
        assert observed.level is Visibility.FRIENDS
    assert observed.raw == {"is_public": triple[0], "is_friend": triple[1], "is_family": triple[2]}


@given(level=st.sampled_from(list(Visibility)))
def test_canonical_round_trips_through_flickr(level: Visibility) -> None:
    flags = flags_for_visibility(level)
    assert visibility_from_flags(*flags).level is level
    assert flags == {"public": (1, 0, 0), "friends": (0, 1, 1), "private": (0, 0, 0)}[level.value]


def _numeric(text: str) -> bool:
    """ "1", " 1 ", "1." and "1e0" are numbers Flickr could send, not junk."""
    try:
        float(text)
    except ValueError:
        return False
    return True


@given(junk=st.one_of(st.none(), st.text(max_size=3).filter(lambda t: not _numeric(t))))
def test_unreadable_flags_fail_closed(junk: object) -> None:
    assert visibility_from_flags(junk, 0, 0).level is Visibility.PRIVATE


@given(n=st.integers(-(10**12), 10**12))
def test_numbers_are_coerced_from_any_shape(n: int) -> None:
    assert to_int(n) == to_int(str(n)) == to_int(f" {n} ") == to_int(float(n)) == n


def test_to_int_defaults() -> None:
    assert (
        to_int("", 5) == 5
        and to_int(None) is None
        and to_int("abc", 0) == 0
        and to_int("12.0") == 12
    )


@given(moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_taken_date_round_trips_at_second_granularity(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    iso = taken_date_from_flickr(moment.strftime("%Y-%m-%d %H:%M:%S"), 0, "0")
    assert iso == moment.strftime("%Y-%m-%dT%H:%M:%S")
    assert iso is not None
    assert flickr_date_from_iso(iso) == (moment.strftime("%Y-%m-%d %H:%M:%S"), 0)


def test_taken_date_granularity_and_unknown() -> None:
    assert taken_date_from_flickr("2004-11-19 12:51:19", "4", "0") == "2004-11-01"
    assert taken_date_from_flickr("2004-11-19 12:51:19", 6, 0) == "2004-01-01"
    assert taken_date_from_flickr("2004-11-19 12:51:19", 8, 0) == "2004-01-01"
    assert (
        taken_date_source("4") == "flickr:datetaken(month)"
        and taken_date_source(0) == "flickr:datetaken"
    )
    assert taken_date_from_flickr("2004-11-19 12:51:19", 0, "1") is None
    assert taken_date_from_flickr("0000-00-00 00:00:00", 0, 0) is None
    assert flickr_date_from_iso("2004-11") == ("2004-11-01 00:00:00", 4)
    assert flickr_date_from_iso("2004") == ("2004-01-01 00:00:00", 6)
    assert flickr_date_from_iso("2008-05-30T15:56:01.25+02:00") == ("2008-05-30 15:56:01", 0)
    with pytest.raises(ValueError):
        flickr_date_from_iso("last tuesday")


tag = (
    st.text(
        alphabet=st.characters(blacklist_characters='"', blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=20,
    )
    .map(lambda t: " ".join(t.split()))
    .filter(bool)
)


@given(tags=st.lists(tag, max_size=8, unique=True))
def test_tag_argument_survives_flickrs_parser(tags: list[str]) -> None:
    assert parse_tag_string(tags_argument(tags)) == tags


def test_machine_tags_are_split_out() -> None:
    plain, machine = split_tags("beach sunset", "photosync:sha256=abc geo:lat=1")
    assert plain == ["beach", "sunset"] and machine == ["photosync:sha256=abc", "geo:lat=1"]


def test_listing_item_mapping() -> None:
    item = remote_item_from_listing(
        {
            "id": "42",
            "owner": "1@N00",
            "secret": "s",
            "server": "65535",
            "title": "Hello",
            "ispublic": 0,
            "isfriend": 1,
            "isfamily": "0",
            "description": {"_content": "desc"},
            "dateupload": "1600000000",
            "lastupdate": "1600000500",
            "datetaken": "2020-09-13 10:00:00",
            "datetakengranularity": 0,
            "datetakenunknown": "0",
            "originalsecret": "os",
            "originalformat": "png",
            "latitude": "48.1",
            "longitude": 0,
            "accuracy": "16",
            "tags": "beach",
            "machine_tags": "photosync:sha256=ab",
            "media": "photo",
            "url_o": "http://127.0.0.1:1/65535/42_os_o.png",
        }
    )
    assert (
        item.instance_id == "42"
        and item.version == "1600000500:os"
        and item.filename == "Hello.png"
    )
    assert item.visibility is not None and item.visibility.level is Visibility.FRIENDS
    assert item.observed.caption == "desc" and item.observed.title == "Hello"
    assert item.observed.location == {"lat": 48.1, "lng": 0.0}
    assert item.observed.tags == ["beach"] and item.extra["machine_tags"] == ["photosync:sha256=ab"]
    assert item.original_available and item.modified_at is not None
    no_original = remote_item_from_listing(
        {"id": "43", "ispublic": 1, "isfriend": 0, "isfamily": 0}
    )
    assert not no_original.original_available and no_original.version == "0:"


_SCHEMA = json.loads(
    (
        Path(photosync.__file__).parent / "archive" / "schemas" / "photo-metadata.schema.json"
    ).read_text()
)


@given(
    moment=st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1)),
    granularity=st.sampled_from([0, 4, 6, 8, "0", "4", "", None, "junk"]),
)
def test_taken_dates_always_fit_the_archive_schema(moment: datetime, granularity: object) -> None:
    iso = taken_date_from_flickr(moment.strftime("%Y-%m-%d %H:%M:%S"), granularity, "0")
    assert iso is not None
    assert re.fullmatch(_SCHEMA["$defs"]["taken_date"]["pattern"], iso)


@pytest.mark.parametrize("value", ["99999999999999", 2**62, "-5", "0", "soon", None])
def test_impossible_upload_times_are_no_time(value: object) -> None:
    """Found by the chaos suite: a mangled dateupload crashed the listing."""
    from photosync.services.flickr.mapping import unix_to_datetime

    assert unix_to_datetime(value) is None
