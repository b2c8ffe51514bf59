"""No photo is shown wider than its approvals allow, whatever the record says and
whatever a service replies; what a service shows is read back, not assumed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.archive import Archive
from photosync.archive.seals import ApprovalSeals
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.rehearsal import flickr_browser
from photosync.model import (
    Visibility,
    approved_level,
    is_wider,
    new_record,
    pushable_level,
    record_relpath,
    trust_none,
)
from photosync.services.flickr.auth import run_oauth_flow
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate, target_level
from photosync.workflow.resolve import analyze, auto_resolve, decide
from tests.helpers import assert_check_clean, make_library, new_archive, records, run_cli

pytestmark = pytest.mark.timeout(180)
LEVELS = [v.value for v in Visibility]

# -- the rule, for every record -----------------------------------------------------------------

_level_text = st.one_of(st.sampled_from(LEVELS), st.text(max_size=8))
_approval = st.one_of(
    st.fixed_dictionaries(
        {"level": _level_text, "by": st.text(max_size=5), "at": st.just("2024-01-01T00:00:00Z")}
    ),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


KEY = ApprovalSeals(bytes(range(32)))
OTHER_KEY = ApprovalSeals(bytes(range(1, 33)))


class _Target:
    def __init__(self, most: str) -> None:
        self.most = Visibility(most)

    def max_visibility(self) -> Visibility:
        return self.most


@settings(max_examples=500, deadline=None)
@given(
    canonical=_level_text,
    approvals=st.lists(_approval, max_size=5),
    service_max=st.sampled_from(LEVELS),
)
def test_without_a_key_nothing_is_pushed_wider_than_private(
    canonical: str, approvals: list[dict[str, Any]], service_max: str
) -> None:
    """A clone without the archive's key trusts no approval: everything stays private."""
    record = _record()
    record["visibility"]["canonical"] = canonical
    record["visibility"]["approvals"] = approvals
    assert approved_level(record, trust_none) is Visibility.PRIVATE
    assert pushable_level(record, service_max, trusted=trust_none) is Visibility.PRIVATE
    assert target_level(record, _Target(service_max), trust_none) is Visibility.PRIVATE  # type: ignore[arg-type]


def _record(content: str = "cd") -> dict[str, Any]:
    return new_record(
        content_hash="sha256:" + content * 32,
        size=1,
        media={"kind": "photo"},
        canonical_source="s:1",
        source_of_truth_path=None,
    )


_OTHER_PHOTO = _record("01")["photo_id"]
#: how an approval came to be in the record: only "genuine" was made through photosync here
_origin = st.sampled_from(
    ["genuine", "unsealed", "forged", "other_photo", "other_level", "other_key", "other_reason"]
)


@st.composite
def _approvals(draw: st.DrawFn, photo_id: str) -> tuple[dict[str, Any], bool]:
    """One approval as it may sit in a record, and whether photosync made it here."""
    level = draw(st.sampled_from(LEVELS))
    approval: dict[str, Any] = {
        "level": level,
        "previous": draw(st.sampled_from(LEVELS)),
        "by": draw(st.text(max_size=5)),
        "at": draw(st.sampled_from(["2024-01-01T00:00:00Z", "2025-06-01T12:00:00Z"])),
        "reason": draw(st.one_of(st.none(), st.text(max_size=5))),
    }
    if draw(st.booleans()):
        approval["service"] = draw(st.sampled_from(["flickr", "google-photos"]))
    origin = draw(_origin)
    if origin == "genuine":
        approval["seal"] = KEY.seal(photo_id, approval)
    elif origin == "forged":
        approval["seal"] = draw(st.one_of(st.text(max_size=80), st.just("hmac-sha256:" + "0" * 64)))
    elif origin == "other_photo":  # copied, seal and all, from another photo
        approval["seal"] = KEY.seal(_OTHER_PHOTO, approval)
    elif origin == "other_level":  # a sealed approval with its level edited
        approval["seal"] = KEY.seal(photo_id, approval)
        approval["level"] = draw(st.sampled_from([v for v in LEVELS if v != level]))
    elif origin == "other_key":  # sealed in another archive (or with another key)
        approval["seal"] = OTHER_KEY.seal(photo_id, approval)
    elif origin == "other_reason":  # a sealed approval with its reason edited
        approval["seal"] = KEY.seal(photo_id, approval)
        approval["reason"] = str(approval["reason"]) + "!"
    return approval, origin == "genuine"


@settings(max_examples=500, deadline=None)
@given(
    canonical=_level_text,
    drawn=st.lists(_approvals(_record()["photo_id"]), max_size=6),
    junk=st.lists(st.tuples(st.integers(0, 6), _approval), max_size=2),
    service_max=st.sampled_from(LEVELS),
)
def test_the_pushed_level_never_exceeds_the_last_approval_made_through_photosync(
    canonical: str,
    drawn: list[tuple[dict[str, Any], bool]],
    junk: list[tuple[int, dict[str, Any]]],
    service_max: str,
) -> None:
    record = _record()
    approvals: list[Any] = [approval for approval, _ in drawn]
    genuine = [approval["level"] for approval, made_here in drawn if made_here]
    for index, anything in junk:  # entries of any shape, anywhere: never trusted
        approvals.insert(min(index, len(approvals)), anything)
    record["visibility"]["canonical"] = canonical
    record["visibility"]["approvals"] = approvals
    allowed = Visibility(genuine[-1]) if genuine else Visibility.PRIVATE
    assert approved_level(record, KEY.verify) == allowed
    for pushed in (
        pushable_level(record, service_max, trusted=KEY.verify),
        target_level(record, _Target(service_max), KEY.verify),  # type: ignore[arg-type]
    ):
        assert not is_wider(pushed, allowed)
        assert not is_wider(pushed, service_max)
        if canonical in LEVELS:
            assert not is_wider(pushed, canonical)
        else:
            assert pushed is Visibility.PRIVATE


def test_a_hand_edited_level_is_a_conflict_until_approved_ornarrowed() -> None:
    record = new_record(
        content_hash="sha256:" + "ef" * 32,
        size=1,
        media={"kind": "photo"},
        canonical_source="s:1",
        source_of_truth_path=None,
    )
    record["visibility"]["canonical"] = "public"
    analyze(record, {"most_restrictive_visibility"}, seals=KEY)
    (conflict,) = [c for c in record["conflicts"] if c["id"] == "visibility_conflict:unapproved"]
    assert conflict["status"] == "open"  # no rule settles it: a human does
    decide(record, conflict["id"], choice="approved", by="tester", seals=KEY)
    assert record["visibility"]["canonical"] == "private" and not record["visibility"]["approvals"]
    record["visibility"]["canonical"] = "friends"
    analyze(record, set(), seals=KEY)
    decide(record, "visibility_conflict:unapproved", choice="canonical", by="tester", seals=KEY)
    assert approved_level(record, KEY.verify) is Visibility.FRIENDS
    assert record["visibility"]["approvals"][-1]["by"] == "tester"
    assert KEY.verify(record["photo_id"], record["visibility"]["approvals"][-1])  # sealed
    assert approved_level(record, OTHER_KEY.verify) is Visibility.PRIVATE
    analyze(record, set(), seals=KEY)
    assert not [c for c in record["conflicts"] if c["id"].endswith(":unapproved")]


# -- against the Flickr emulator -----------------------------------------------------------------


@pytest.fixture
def running() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState()  # the account default is public
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def _replicated_archive(
    tmp_path: Path, emulator: FlickrEmulator, state: FlickrState, count: int
) -> Archive:
    make_library(tmp_path / "lib", count)
    run_oauth_flow(
        state.api_key,
        state.api_secret,
        "write",
        emulator.endpoints(),
        flickr_browser,
        service_name="flickr",
    )
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        flickr={
            "type": "flickr",
            "target": True,
            "source": False,
            "endpoints": emulator.endpoints(),
            "rate_limit": {"requests_per_hour": 36_000_000},
        },
    )
    archive.lock()
    discover(archive, services=["lib"])
    auto_resolve(archive)
    return archive


def _hand_edit(archive: Archive, photo_id: str, level: str) -> None:
    record = archive.load_record(photo_id)
    record["visibility"]["canonical"] = level
    path = archive.root / record_relpath(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    archive.git.run("commit", "-qam", "a hand edit")
    archive.ensure_index()


def _audit(archive: Archive, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        "--archive", str(archive.root), "audit", "--visibility-check", "--json", *extra
    )
    return result.exit_code, json.loads(result.output)


def test_a_record_edited_by_hand_to_public_is_not_uploaded_public(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    archive = _replicated_archive(tmp_path, emulator, state, 2)
    edited, other = sorted(r["photo_id"] for r in records(archive.root))
    _hand_edit(archive, edited, "public")
    archive.close()
    code, found = _audit(archive)
    assert code == 6
    wider = [(f["photo_id"], f["kind"]) for f in found["discrepancies"] if f["wider"]]
    assert wider == [(edited, "unapproved")]
    archive = Archive(archive.root)
    archive.lock()
    report = replicate(archive, execute=True)
    assert not report.failed, report.failed
    assert len(state.photos) == 2
    assert all(p.privacy == (0, 0, 0) for p in state.photos.values())
    # Flickr shows it private and nobody approved more: narrowed back (fails closed)
    assert archive.load_record(edited)["visibility"]["canonical"] == "private"
    archive.close()
    assert _audit(archive)[0] == 0
    # an approval made through photosync lets it widen, and only that photo
    done = run_cli("--archive", str(archive.root), "visibility", "set", edited, "public", "--yes")
    assert done.exit_code == 0, done.output
    archive = Archive(archive.root)
    archive.lock()
    assert approved_level(archive.load_record(edited), archive.seals.verify) is Visibility.PUBLIC
    assert not replicate(archive, execute=True).failed
    (pushed,) = archive.load_record(edited)["instances"]["flickr"]
    assert state.photos[pushed["id"]].privacy == (1, 0, 0)
    assert not archive.load_record(edited)["conflicts"]  # settled by the approval
    (kept,) = archive.load_record(other)["instances"]["flickr"]
    assert state.photos[kept["id"]].privacy == (0, 0, 0)
    assert _audit(archive)[0] == 0
    archive.close()
    assert_check_clean(archive.root)


def _forge(archive: Archive, photo_id: str, approval: dict[str, Any]) -> None:
    """Red-team repro 03: canonical widened and an approval appended by hand, committed with git."""
    record = archive.load_record(photo_id)
    record["visibility"]["canonical"] = approval["level"]
    record["visibility"]["approvals"].append(approval)
    path = archive.root / record_relpath(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    archive.git.run("commit", "-qam", "my hand edit: make public")


def test_an_approval_typed_by_hand_or_copied_from_another_photo_does_not_widen(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    archive = _replicated_archive(tmp_path, emulator, state, 3)
    assert not replicate(archive, execute=True).failed
    archive.close()
    root = str(archive.root)
    approved, typed, copied = sorted(r["photo_id"] for r in records(archive.root))
    done = run_cli("--archive", root, "visibility", "set", approved, "public", "--yes")
    assert done.exit_code == 0, done.output
    archive = Archive(archive.root)
    archive.ensure_index()
    genuine = archive.load_record(approved)["visibility"]["approvals"][-1]
    assert genuine["seal"].startswith("hmac-sha256:")
    _forge(
        archive, typed, {"level": "public", "by": "me", "at": "2024-01-01T00:00:00Z", "reason": "x"}
    )
    _forge(archive, copied, dict(genuine))  # a sealed approval, but of another photo
    archive.close()
    assert run_cli("--archive", root, "resolve", "--auto-resolve", "simple").exit_code == 0
    run_cli("--archive", root, "replicate", "--execute")
    shown = {
        r["photo_id"]: state.photos[r["instances"]["flickr"][0]["id"]].privacy
        for r in records(archive.root)
    }
    assert shown == {approved: (1, 0, 0), typed: (0, 0, 0), copied: (0, 0, 0)}
    code, found = _audit(archive, "--live")
    assert code == 6
    assert sorted((f["photo_id"], f["kind"]) for f in found["discrepancies"] if f["wider"]) == [
        (typed, "unapproved"),
        (copied, "unapproved"),
    ]
    for photo_id in (typed, copied):
        (question,) = [
            c
            for c in archive.load_record(photo_id)["conflicts"]
            if c["id"] == "visibility_conflict:unapproved"
        ]
        assert question["status"] == "open"
        assert "not made through photosync here" in question["description"]
    # approving through photosync seals a new approval: then, and only then, it widens
    done = run_cli("--archive", root, "visibility", "set", typed, "public", "--yes")
    assert done.exit_code == 0, done.output
    done = run_cli("--archive", root, "visibility", "set", copied, "private", "--yes")
    assert done.exit_code == 0, done.output
    assert run_cli("--archive", root, "replicate", "--execute").exit_code == 0
    (pushed,) = archive.load_record(typed)["instances"]["flickr"]
    assert state.photos[pushed["id"]].privacy == (1, 0, 0)
    (kept,) = archive.load_record(copied)["instances"]["flickr"]
    assert state.photos[kept["id"]].privacy == (0, 0, 0)
    assert _audit(archive, "--live")[0] == 0
    assert_check_clean(archive.root)


def test_a_service_that_says_yes_but_shows_wider_is_recorded_and_audited(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    archive = _replicated_archive(tmp_path, emulator, state, 2)
    state.privacy_ignored = True  # uploads get the account default (public); setPerms is a no-op
    report = replicate(archive, execute=True)
    assert len(report.failed) == 2 and all("shows the photo as public" in f for f in report.failed)
    assert all(p.privacy == (1, 0, 0) for p in state.photos.values())
    for record in records(archive.root):
        assert record["visibility"]["per_service"]["flickr"] == "public"  # read back, not assumed
        assert record["instances"]["flickr"][0]["visibility"] == "public"
    code, found = _audit(archive)
    assert code == 6 and found["wider_than_canonical"] == 2
    for record in records(archive.root):
        (question,) = record["conflicts"]
        assert question["id"] == "visibility_conflict:canonical" and question["status"] == "open"
    # the next run tries to narrow again; the service still lies; nothing is uploaded twice
    again = replicate(archive, execute=True)
    assert len(again.failed) == 2 and len(state.photos) == 2
    # the service is fixed: the next run narrows, and reads back that it did
    state.privacy_ignored = False
    assert not replicate(archive, execute=True).failed
    assert all(p.privacy == (0, 0, 0) for p in state.photos.values())
    assert _audit(archive)[0] == 0
    assert not any(record["conflicts"] for record in records(archive.root))
    archive.close()
    assert_check_clean(archive.root)


def test_visibility_approve_seals_the_level_it_adopts_from_the_service(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    archive = _replicated_archive(tmp_path, emulator, state, 2)
    state.privacy_ignored = True  # Flickr shows both public, whatever it is asked
    assert len(replicate(archive, execute=True).failed) == 2
    state.privacy_ignored = False
    archive.close()
    root = str(archive.root)
    shown, narrowed = sorted(r["photo_id"] for r in records(archive.root))
    done = run_cli(
        "--archive", root, "visibility", "approve", "--service", "flickr", shown, "--yes"
    )
    assert done.exit_code == 0, done.output
    archive = Archive(archive.root)
    archive.ensure_index()
    approval = archive.load_record(shown)["visibility"]["approvals"][-1]
    assert approval["service"] == "flickr" and approval["level"] == "public"
    assert archive.seals.verify(shown, approval)
    assert not archive.seals.verify(narrowed, approval)  # sealed for that photo only
    archive.close()
    assert run_cli("--archive", root, "replicate", "--execute").exit_code == 0
    privacy = {
        r["photo_id"]: state.photos[r["instances"]["flickr"][0]["id"]].privacy
        for r in records(archive.root)
    }
    assert privacy == {shown: (1, 0, 0), narrowed: (0, 0, 0)}
    assert _audit(archive, "--live")[0] == 0
    assert_check_clean(archive.root)


def test_audit_live_asks_the_service_instead_of_the_archive(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    archive = _replicated_archive(tmp_path, emulator, state, 3)
    assert not replicate(archive, execute=True).failed
    archive.close()
    assert _audit(archive)[0] == 0
    assert _audit(archive, "--live")[0] == 0
    widened = sorted(state.photos)[0]
    state.photos[widened].is_public = 1  # changed on flickr.com, behind photosync's back
    assert _audit(archive)[0] == 0  # the archive cannot know
    code, found = _audit(archive, "--live")
    assert code == 6
    assert [(f["service"], f["current"], f["kind"]) for f in found["discrepancies"]] == [
        ("flickr", "public", "live")
    ]
    assert_check_clean(archive.root)
