"""The record rules every phase shares, stated once in photosync.model: building and
refreshing an instance (discover), joining two records (resolve, the matcher), where
the original is (replicate, verify). Each must hold for all inputs and keep a record
the schema accepts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.schema import validate_record
from photosync.archive.seals import ApprovalSeals
from photosync.model import (
    ObservedMetadata,
    Record,
    Visibility,
    approved_level,
    carry_known,
    find_instance,
    iter_instances,
    join_records,
    new_instance,
    new_record,
    raise_edit_variant,
    record_originals,
    refresh_seen_visibility,
    says_something_new,
    start_record,
    update_blob_locations,
)
from photosync.model.privacy import approve_visibility, narrow_visibility

LEVELS = st.sampled_from([level.value for level in Visibility])
IDS = st.text(alphabet="abcdef0123456789", min_size=1, max_size=6)


def _hash(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def _record(n: int, service: str, ids: list[str], levels: list[str | None]) -> Record:
    """A record made as discover makes one: its first copy, then more copies."""
    content_hash = _hash(n)
    record = new_record(
        content_hash=content_hash,
        size=10 + n,
        media={"kind": "photo", "mime_type": "image/jpeg"},
        canonical_source=f"{service}:{ids[0]}",
        source_of_truth_path=None,
    )
    observed = ObservedMetadata(taken_date="2020-01-02T03:04:05", filename=f"{n}.jpg").to_json()
    first = new_instance(
        ids[0], quality="original", content_hash=content_hash, observed=dict(observed)
    )
    start_record(record, service, first)
    for instance_id, level in zip(ids[1:], levels[1:], strict=False):
        if find_instance(record, service, instance_id) is None:
            record["instances"][service].append(
                new_instance(
                    instance_id,
                    quality="original",
                    content_hash=content_hash,
                    observed=dict(observed),
                    visibility=level,
                )
            )
    refresh_seen_visibility(record)
    return record


@settings(deadline=None, max_examples=60)  # the first call compiles the schema
@given(
    st.lists(IDS, min_size=1, max_size=4),
    st.lists(IDS, min_size=1, max_size=4),
    st.lists(st.one_of(st.none(), LEVELS), min_size=4, max_size=4),
    st.sampled_from(["folder", "flickr"]),
    LEVELS,
    LEVELS,
)
def test_a_join_keeps_every_copy_and_fails_closed(
    ids_a: list[str],
    ids_b: list[str],
    levels: list[str | None],
    service_b: str,
    canonical_a: str,
    canonical_b: str,
) -> None:
    keeper = _record(1, "folder", ids_a, levels)
    other = _record(2, service_b, ids_b, levels)
    keeper["visibility"]["canonical"] = canonical_a
    other["visibility"]["canonical"] = canonical_b
    before = {
        (service, i["id"], i.get("content_hash"))
        for r in (keeper, other)
        for service, i in iter_instances(r)
    }
    join_records(keeper, other, kind="edit_variant")
    after = {(service, i["id"], i.get("content_hash")) for service, i in iter_instances(keeper)}
    assert after == before
    rank = {level.value: level.rank for level in Visibility}
    assert keeper["visibility"]["canonical"] == min(canonical_a, canonical_b, key=rank.__getitem__)
    assert _hash(2)[7:] in record_originals(keeper)
    validate_record(keeper)


@settings(deadline=None, max_examples=60)
@given(
    st.dictionaries(st.sampled_from(["local", "s3", "b2"]), IDS, max_size=3),
    st.lists(st.sampled_from(["local", "s3", "b2"]), max_size=3),
    st.dictionaries(st.sampled_from(["local", "s3", "b2"]), IDS, max_size=3),
)
def test_blob_locations_say_what_was_found_and_keep_what_was_not_checked(
    earlier: dict[str, str], lost: list[str], verified: dict[str, str]
) -> None:
    record = _record(3, "folder", ["a"], [None])
    update_blob_locations(record, earlier, now="2020-01-01T00:00:00Z")
    update_blob_locations(record, verified, lost, primary="local", now="2020-02-01T00:00:00Z")
    held = {loc["store"]: loc["locator"] for loc in record["blob_locations"]}
    expected = {k: v for k, v in earlier.items() if k not in set(lost) - set(verified)}
    assert held == {**expected, **verified}
    assert [loc["store"] for loc in record["blob_locations"]] == sorted(held)
    assert not update_blob_locations(record, verified, lost, primary="local")
    validate_record(record)


@settings(deadline=None, max_examples=60)
@given(
    st.one_of(st.none(), LEVELS),
    st.one_of(st.none(), LEVELS),
    st.booleans(),
    st.lists(st.text(alphabet="xyz", min_size=1, max_size=3), max_size=3),
)
def test_a_new_look_at_a_copy_keeps_what_it_does_not_say(
    earlier_level: str | None, now_level: str | None, edited_sidecar: bool, albums: list[str]
) -> None:
    record = _record(4, "folder", ["a"], [None])
    recorded = record["instances"]["folder"][0]
    recorded["visibility"] = earlier_level
    recorded["observed"]["albums"] = albums
    recorded["sidecars"] = [{"name": "a.xmp", "content_hash": _hash(40), "size": 3}]
    seen = new_instance(
        "a",
        quality="original",
        content_hash=_hash(4),
        observed=ObservedMetadata(taken_date="2020-01-02T03:04:05").to_json(),
        visibility=now_level,
        sidecars=[{"name": "a.xmp", "content_hash": _hash(41 if edited_sidecar else 40)}],
    )
    seen["observed"].pop("albums", None)
    carry_known(record, "folder", seen)
    assert seen["visibility"] == (now_level if now_level is not None else earlier_level)
    assert seen["observed"]["albums"] == albums
    hashes = {s["content_hash"] for s in seen["sidecars"]}
    assert _hash(40) in hashes and (_hash(41) in hashes) == edited_sidecar
    record["instances"]["folder"] = [seen]
    refresh_seen_visibility(record)
    assert record["visibility"]["per_service"] == (
        {"folder": seen["visibility"]} if seen["visibility"] else {}
    )
    validate_record(record)


def test_a_copy_saying_only_what_the_record_says_is_nothing_new() -> None:
    record = _record(5, "folder", ["a"], [None])
    same = dict(record["instances"]["folder"][0])
    assert not says_something_new(record, same)
    captioned = {**same, "observed": {**same["observed"], "caption": "at the lake"}}
    assert says_something_new(record, captioned)
    shared = {**same, "visibility": "public"}
    assert says_something_new(record, shared)


def test_an_edit_variant_is_asked_once_on_each_side() -> None:
    a = _record(6, "folder", ["a"], [None])
    b = _record(7, "flickr", ["b"], [None])
    assert raise_edit_variant(a, b, "same scene") and raise_edit_variant(b, a, "same scene")
    assert not raise_edit_variant(a, b, "same scene")
    assert [c["id"] for c in a["conflicts"]] == [f"edit_variant:{b['photo_id']}"]
    assert a["variants"] == [{"photo_id": b["photo_id"], "kind": "edit_variant", "role": None}]
    assert sorted(a["conflicts"][0]["services"]) == ["flickr", "folder"]
    validate_record(a)
    validate_record(b)


@settings(deadline=None, max_examples=40)
@given(LEVELS, LEVELS, st.dictionaries(st.sampled_from(["flickr", "google-photos"]), LEVELS))
def test_a_level_set_through_photosync_is_the_level_replicate_may_push(
    wider: str, narrower: str, shown: dict[str, str]
) -> None:
    """Widening is a sealed approval, narrowing a recorded one: either way the last
    approval is the level set, and each service showing another level is a discrepancy."""
    seals = ApprovalSeals(bytes(32))
    record = _record(8, "folder", ["a"], [None])
    record["visibility"]["per_service"] = dict(shown)
    approve_visibility(record, Visibility(wider), by="me", reason="test", seals=seals)
    level = min(Visibility(wider), Visibility(narrower), key=lambda v: v.rank)
    narrow_visibility(record, level, by="me", reason="test", seals=seals)
    assert record["visibility"]["canonical"] == level.value
    assert approved_level(record, seals.verify) == level
    assert record["visibility"]["discrepancies"] == [
        {"service": s, "current": v, "canonical": level.value}
        for s, v in sorted(shown.items())
        if v != level.value
    ]
    validate_record(record)
