"""The record merge of two clones: commutative, idempotent, and it never loses anything."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.schema import validate_record
from photosync.merge import merge_config, merge_records, merge_sync_state
from photosync.model import new_record
from photosync.workflow.sync import merge_file

HASH = "sha256:" + "ab" * 32
LEVELS = ["private", "friends", "public"]
STATES = ["discovered", "resolved", "replicated"]


def base_record() -> dict[str, Any]:
    record = new_record(
        content_hash=HASH,
        size=10,
        media={"kind": "photo"},
        canonical_source="local:a.jpg",
        source_of_truth_path="blobs/sha256/ab/" + "ab" * 32,
        now="2026-01-01T00:00:00Z",
    )
    record["instances"]["local"] = [
        {"id": "a.jpg", "quality": "original", "last_sync": "2026-01-01T00:00:00Z"}
    ]
    return record


stamps = st.integers(min_value=0, max_value=59).map(lambda s: f"2026-02-01T00:00:{s:02d}Z")
instances = st.builds(
    lambda service, name, stamp, caption: (
        service,
        {
            "id": name,
            "quality": "original",
            "last_sync": stamp,
            "observed": {"caption": caption},
        },
    ),
    st.sampled_from(["local", "flickr", "google"]),
    st.sampled_from(["a.jpg", "b.jpg", "c.jpg", "d.jpg"]),
    stamps,
    st.one_of(st.none(), st.sampled_from(["x", "y"])),
)
approvals = st.builds(
    lambda level, stamp, by: {"level": level, "by": by, "at": stamp},
    st.sampled_from(LEVELS),
    stamps,
    st.sampled_from(["me@one", "me@two"]),
)
decisions = st.builds(
    lambda cid, choice, stamp: (
        cid,
        {"choice": choice, "value": choice, "by": "me", "at": stamp, "rule": None},
    ),
    st.sampled_from(["metadata_mismatch:caption", "metadata_mismatch:tags"]),
    st.sampled_from(["local:a.jpg", "flickr:1", "skip"]),
    stamps,
)
edits = st.fixed_dictionaries(
    {
        "instances": st.lists(instances, max_size=4),
        "approvals": st.lists(approvals, max_size=2),
        "decisions": st.lists(decisions, max_size=2),
        "caption": st.one_of(st.none(), st.sampled_from(["sea", "hill", "lake"])),
        "title": st.one_of(st.none(), st.sampled_from(["Sea", "Hill"])),  # None: no such key
        "tags": st.lists(st.sampled_from(["a", "b", "c"]), unique=True),
        "state": st.sampled_from(STATES),
        "updated": stamps,
        "blobs": st.lists(st.sampled_from(["archive", "s3", "nas"]), unique=True),
        "problem": st.one_of(st.none(), st.sampled_from(["refused_by_service", "listing"])),
    }
)


def edited(base: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any]:
    """One clone's independent changes to the record, the way photosync makes them."""
    record = copy.deepcopy(base)
    for service, instance in edit["instances"]:
        kept = [i for i in record["instances"].get(service, []) if i["id"] != instance["id"]]
        record["instances"][service] = sorted([*kept, instance], key=lambda i: i["id"])
    for approval in sorted(edit["approvals"], key=lambda a: a["at"]):
        record["visibility"]["approvals"].append(approval)
    if record["visibility"]["approvals"]:
        record["visibility"]["canonical"] = record["visibility"]["approvals"][-1]["level"]
    for conflict_id, resolution in edit["decisions"]:
        if any(c["id"] == conflict_id for c in record["conflicts"]):
            continue
        record["conflicts"].append(
            {
                "id": conflict_id,
                "type": "metadata_mismatch",
                "field": conflict_id.split(":")[1],
                "description": "instances disagree",
                "services": ["flickr", "local"],
                "resolution_required": True,
                "status": "skipped" if resolution["choice"] == "skip" else "resolved",
                "options": [
                    {"source": "local:a.jpg", "value": 1},
                    {"source": "flickr:1", "value": 2},
                ],
                "resolution": resolution,
            }
        )
    record["metadata"]["caption"] = edit["caption"]
    if edit["title"] is not None:  # a key the base record lacks, added by hand on one side
        record["metadata"]["title"] = edit["title"]
    record["metadata"]["tags"] = sorted(edit["tags"])
    record["processing_state"] = edit["state"]
    record["updated_at"] = edit["updated"]
    record["blob_locations"] = [
        {"store": store, "locator": "sha256/ab", "verified_at": edit["updated"]}
        for store in sorted(edit["blobs"])
    ]
    if edit["problem"]:
        record["problems"].append({"code": edit["problem"], "message": "m", "service": "flickr"})
    return record


def instance_keys(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s, i["id"]) for s, items in record["instances"].items() for i in items}


def decision_keys(record: dict[str, Any]) -> set[str]:
    out = set()
    for conflict in record["conflicts"]:
        for decision in [conflict.get("resolution"), *(conflict.get("decisions") or [])]:
            if decision:
                out.add(json.dumps(decision, sort_keys=True))
    return out


def approval_keys(record: dict[str, Any]) -> set[str]:
    return {json.dumps(a, sort_keys=True) for a in record["visibility"]["approvals"]}


def with_and_without_base() -> st.SearchStrategy[bool]:
    return st.booleans()


@settings(max_examples=150, deadline=None)
@given(edits, edits, st.booleans())
def test_merge_is_commutative_and_loses_nothing(
    edit_a: dict[str, Any], edit_b: dict[str, Any], use_base: bool
) -> None:
    base = base_record()
    a, b = edited(base, edit_a), edited(base, edit_b)
    ancestor = base if use_base else None
    merged = merge_records(a, b, ancestor)
    assert merged == merge_records(b, a, ancestor)
    validate_record(merged)
    assert instance_keys(merged) == instance_keys(a) | instance_keys(b)
    assert decision_keys(merged) >= decision_keys(a) | decision_keys(b)
    assert approval_keys(merged) == approval_keys(a) | approval_keys(b)
    stamps_in_order = [x["at"] for x in merged["visibility"]["approvals"]]
    assert stamps_in_order == sorted(stamps_in_order)
    assert merged["updated_at"] == max(a["updated_at"], b["updated_at"])
    rank = STATES.index
    assert rank(merged["processing_state"]) <= min(
        rank(a["processing_state"]), rank(b["processing_state"])
    )
    stores = {loc["store"] for r in (a, b) for loc in r["blob_locations"]}
    assert {loc["store"] for loc in merged["blob_locations"]} == stores
    problems = {json.dumps(p, sort_keys=True) for r in (a, b) for p in r["problems"]}
    assert {json.dumps(p, sort_keys=True) for p in merged["problems"]} == problems
    # a title only one side has is the value, or an option of the question the merge opens
    kept = {merged["metadata"].get("title")} | {
        o["value"] for c in merged["conflicts"] if c["id"] == "merge:title" for o in c["options"]
    }
    assert {r["metadata"]["title"] for r in (a, b) if "title" in r["metadata"]} <= kept
    # idempotent: merging the result again with either side, or with itself, changes nothing
    assert merge_records(merged, merged, ancestor) == merged
    assert merge_records(merged, a, ancestor) == merged
    assert merge_records(b, merged, ancestor) == merged


@settings(max_examples=100, deadline=None)
@given(edits)
def test_merging_a_record_with_itself_is_the_record(edit: dict[str, Any]) -> None:
    record = edited(base_record(), edit)
    assert merge_records(record, record) == record
    assert merge_records(record, record, base_record()) == record


def _caption_question() -> Any:
    """An open question on the caption: a local file says "sea", Flickr "hill"."""
    return {
        "id": "metadata_mismatch:caption",
        "type": "metadata_mismatch",
        "field": "caption",
        "description": "instances disagree on caption",
        "services": ["flickr", "local"],
        "resolution_required": True,
        "status": "open",
        "options": [
            {"source": "local:a.jpg", "value": "sea"},
            {"source": "flickr:1", "value": "hill"},
        ],
        "resolution": None,
    }


def test_the_same_conflict_decided_differently_reopens_with_both_decisions() -> None:
    base = base_record()
    one = {"choice": "local:a.jpg", "value": "sea", "by": "me@one", "at": "2026-02-01T00:00:01Z"}
    two = {"choice": "flickr:1", "value": "hill", "by": "me@two", "at": "2026-02-01T00:00:02Z"}
    base["conflicts"] = [_caption_question()]
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["conflicts"][0].update(status="resolved", resolution=one)
    a["processing_state"] = "resolved"
    b["conflicts"][0].update(status="resolved", resolution=two)
    b["processing_state"] = "replicated"
    merged = merge_records(a, b, base)
    conflict = merged["conflicts"][0]
    assert conflict["status"] == "open" and conflict["resolution"] is None
    assert conflict["decisions"] == [one, two]
    assert merged["processing_state"] == "discovered"
    validate_record(merged)
    # deciding it again on one clone, then merging with the other, keeps the new decision
    again = copy.deepcopy(merged)
    three = {**two, "at": "2026-02-01T00:00:03Z"}
    again["conflicts"][0].update(status="resolved", resolution=three)
    assert merge_records(again, merged, merged)["conflicts"][0]["resolution"] == three


def test_a_question_marked_resolved_by_hand_merges_with_a_skip_keeping_both(
    tmp_path: Path,
) -> None:
    """Hand-edited records never give a traceback: a reopened question set to "resolved"
    in an editor (no resolution, as photosync left it) merged with a skip of the other
    clone is one record holding both (``git pull`` ran the merge driver into a
    StopIteration before)."""
    base = base_record()
    one = {"choice": "local:a.jpg", "value": "sea", "by": "me@one", "at": "2026-02-01T00:00:01Z"}
    skip = {"choice": "skip", "value": None, "by": "me@two", "at": "2026-02-01T00:00:02Z"}
    base["conflicts"] = [_caption_question()]
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["conflicts"][0].update(status="resolved", decisions=[one])  # by hand, after a reopen
    b["conflicts"][0].update(status="skipped", resolution=skip)
    for ours, theirs in ((a, b), (b, a)):
        merged = merge_records(ours, theirs, base)
        conflict = merged["conflicts"][0]
        assert conflict["status"] == "skipped" and conflict["resolution"] == skip
        assert conflict["decisions"] == [one]
        validate_record(merged)
    # the merge driver git runs: merged, never a traceback
    paths = {name: tmp_path / name for name in ("base", "ours", "theirs")}
    for name, record in (("base", base), ("ours", a), ("theirs", b)):
        paths[name].write_text(json.dumps(record), encoding="utf-8")
    merge_file(paths["base"], paths["ours"], paths["theirs"], "photos/2026/01/x.json")
    assert json.loads(paths["ours"].read_text())["conflicts"][0]["decisions"] == [one]


def test_a_caption_changed_on_both_clones_becomes_a_question() -> None:
    base = base_record()
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    a["metadata"]["caption"] = "sea"
    b["metadata"]["caption"] = "hill"
    merged = merge_records(a, b, base)
    question = next(c for c in merged["conflicts"] if c["id"] == "merge:caption")
    assert {o["value"] for o in question["options"]} == {"sea", "hill"}
    assert merged["metadata"]["caption"] in ("sea", "hill")
    # changed on one clone only: that change is simply taken
    b["metadata"]["caption"] = None
    assert merge_records(a, b, base)["metadata"]["caption"] == "sea"
    assert not merge_records(a, b, base)["conflicts"]


def test_a_widening_approved_on_one_clone_is_kept_and_never_invented() -> None:
    base = base_record()
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    approval = {"level": "public", "previous": "private", "by": "me", "at": "2026-02-01T00:00:00Z"}
    a["visibility"]["approvals"].append(approval)
    a["visibility"]["canonical"] = "public"
    merged = merge_records(a, b, base)
    assert merged["visibility"]["approvals"] == [approval]
    assert merged["visibility"]["canonical"] == "public"
    # without the ancestor a disagreement on the level fails closed
    assert merge_records(a, b)["visibility"]["canonical"] == "private"


def test_different_photos_are_never_merged() -> None:
    import pytest

    from photosync.merge import MergeError

    other = base_record()
    other["photo_id"] = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(MergeError):
        merge_records(base_record(), other)


def test_sync_state_keeps_the_older_cursor() -> None:
    older = {"last_discover": "2026-01-01T00:00:00Z", "cursor": "100"}
    newer = {"last_discover": "2026-01-02T00:00:00Z", "cursor": "200"}
    a = {"services": {"flickr": older, "local": newer}}
    b = {"services": {"flickr": newer, "google": older}}
    merged = merge_sync_state(a, b)
    assert merged == merge_sync_state(b, a)
    assert merged["services"] == {"flickr": older, "local": newer, "google": older}


def test_config_takes_each_side_change_and_refuses_a_real_clash() -> None:
    import pytest

    from photosync.merge import MergeError

    base = {"services": {"pics": {"type": "local", "path": "/a"}}}
    a = copy.deepcopy(base)
    a["services"]["flickr"] = {"type": "flickr"}
    b = copy.deepcopy(base)
    b["services"]["pics"]["path"] = "/b"
    merged = merge_config(a, b, base)
    assert merged["services"] == {
        "pics": {"type": "local", "path": "/b"},
        "flickr": {"type": "flickr"},
    }
    a["services"]["pics"]["path"] = "/c"
    with pytest.raises(MergeError):
        merge_config(a, b, base)


VARIANT = "sha256:" + "cd" * 32


@settings(max_examples=60, deadline=None)
@given(st.booleans(), st.booleans(), st.booleans())
def test_a_join_undone_on_one_side_takes_the_instances_it_brought_along(
    changed_since: bool, undo_is_ours: bool, other_adds: bool
) -> None:
    """`git revert` of resolve's join: the variant's instance leaves the joined record with
    the link (its own record is back on that side); one changed since the join stays."""
    joined = base_record()
    joined["instances"]["local"].append(
        {
            "id": "v.jpg",
            "quality": "original",
            "last_sync": "2026-01-01T00:00:00Z",
            "content_hash": VARIANT,
        }
    )
    joined["variants"] = [
        {"photo_id": "v-id", "kind": "quality_variant", "role": f"merged: {VARIANT}"}
    ]
    undone = copy.deepcopy(joined)
    undone["instances"]["local"] = undone["instances"]["local"][:1]
    undone["variants"] = []
    other = copy.deepcopy(joined)
    if other_adds:
        other["instances"]["out"] = [
            {"id": "x/a.jpg", "quality": "original", "last_sync": "2026-01-02T00:00:00Z"}
        ]
    if changed_since:
        other["instances"]["local"][1]["observed"] = {"caption": "new at the service"}
    a, b = (undone, other) if undo_is_ours else (other, undone)
    merged = merge_records(a, b, joined)
    assert merged == merge_records(b, a, joined)
    validate_record(merged)
    assert merged["variants"] == []
    assert (("local", "v.jpg") in instance_keys(merged)) is changed_since
    assert ("local", "a.jpg") in instance_keys(merged)
    assert (("out", "x/a.jpg") in instance_keys(merged)) is other_adds
