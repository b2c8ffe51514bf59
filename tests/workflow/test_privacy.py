"""Privacy rules as properties: nothing widens a photo's visibility without an approval."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.seals import ApprovalSeals
from photosync.model import Visibility, new_record
from photosync.workflow.resolve import analyze, decide

LEVELS = [v.value for v in Visibility]
SEALS = ApprovalSeals(bytes(32))
RULES = st.sets(
    st.sampled_from(["missing_metadata", "most_restrictive_visibility", "quality_variants"])
)


def _record() -> dict:
    return new_record(
        content_hash="sha256:" + "ab" * 32,
        size=1,
        media={"kind": "photo"},
        canonical_source="s:1",
        source_of_truth_path=None,
    )


# one step: a service reports a level, a resolve pass runs, or a human picks an option
steps = st.one_of(
    st.tuples(
        st.just("observe"),
        st.sampled_from(["flickr", "google-photos", "local"]),
        st.sampled_from(LEVELS),
    ),
    st.tuples(st.just("analyze"), RULES),
    st.tuples(st.just("decide"), st.integers(0, 5)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=25))
def test_no_sequence_widens_canonical_visibility_without_an_approval(sequence: list[tuple]) -> None:
    record = _record()
    for step in sequence:
        before = Visibility(record["visibility"]["canonical"])
        approvals_before = len(record["visibility"]["approvals"])
        if step[0] == "observe":
            record["visibility"]["per_service"][step[1]] = step[2]
        elif step[0] == "analyze":
            analyze(record, step[1], seals=SEALS)
        else:
            open_ = [c for c in record["conflicts"] if c["status"] == "open"]
            if open_:
                conflict = open_[0]
                options = [o["source"] for o in conflict["options"]] + ["skip"]
                decide(
                    record,
                    conflict["id"],
                    choice=options[step[1] % len(options)],
                    by="tester",
                    seals=SEALS,
                )
        after = Visibility(record["visibility"]["canonical"])
        if after.rank > before.rank:
            # a widening happened: only through a recorded human approval in this very step
            assert step[0] == "decide"
            assert len(record["visibility"]["approvals"]) == approvals_before + 1
            assert record["visibility"]["approvals"][-1]["by"] == "tester"
            assert SEALS.verify(record["photo_id"], record["visibility"]["approvals"][-1])


@given(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=6))
def test_canonical_is_the_most_restrictive_level_seen(levels: list[str]) -> None:
    record = _record()
    record["visibility"]["canonical"] = "public"
    record["visibility"]["approvals"] = []
    for index, level in enumerate(levels):
        record["visibility"]["per_service"][f"s{index}"] = level
    analyze(record, set(), seals=SEALS)
    assert record["visibility"]["canonical"] == min(levels, key=lambda v: Visibility(v).rank)
    wider = [
        d
        for d in record["visibility"]["discrepancies"]
        if Visibility(d["current"]).rank > Visibility(d["canonical"]).rank
    ]
    assert len(wider) == sum(1 for lv in levels if lv != record["visibility"]["canonical"])


def test_a_new_record_is_private() -> None:
    assert _record()["visibility"]["canonical"] == "private"
