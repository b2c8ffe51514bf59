"""The privacy rules of a record: its visibility conflicts and the approvals that widen it.

Fail closed: a level a service shows more narrowly than canonical narrows it
(without an approval on record); a wider one is a question; a canonical level
wider than the last approval made through photosync here (sealed: see
``archive.seals``) is never pushed as it is. ``resolve``, ``replicate`` and
``visibility`` all use these, so the rules are written once. No I/O: the seal
is made and checked by whatever ``Sealer`` the caller holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from photosync.model import (
    Approval,
    Conflict,
    ConflictType,
    Record,
    Visibility,
    approved_level,
    is_wider,
    most_restrictive,
    new_conflict,
    new_decision,
    unapproved_widening,
    untrusted_approvals,
    utc_now,
)


class Sealer(Protocol):
    """Seals an approval for one photo and checks one (``archive.seals.ApprovalSeals``)."""

    def seal(self, photo_id: str, approval: Mapping[str, Any]) -> str: ...

    def verify(self, photo_id: str, approval: Mapping[str, Any]) -> bool: ...


def carry_decision(conflict: Conflict, before: Conflict | None) -> None:
    """A decision stays valid while the options it chose from are unchanged; the earlier
    decisions a merge of two clones showed (``decisions``) are always carried."""
    if before is not None and before.get("decisions"):
        conflict["decisions"] = before["decisions"]
    if before is None or before.get("status") == "open":
        return
    if before.get("options") == conflict["options"]:
        conflict["status"] = before["status"]
        conflict["resolution"] = before.get("resolution")


def visibility_conflict(
    record: Record, rules: set[str], previous: dict[str, Conflict], *, by: str
) -> Conflict | None:
    vis = record["visibility"]
    seen = list(vis["per_service"].values())
    canonical = Visibility(vis["canonical"])
    if seen and not vis["approvals"]:
        narrowest = most_restrictive(seen)
        if narrowest.rank < canonical.rank:
            canonical = narrowest  # fail closed: narrowing needs no approval
    # with an approval on record the approved level stands; narrower services are discrepancies
    vis["canonical"] = canonical.value
    vis["discrepancies"] = [
        {"service": service, "current": level, "canonical": canonical.value}
        for service, level in sorted(vis["per_service"].items())
        if level != canonical.value
    ]
    wider = [d for d in vis["discrepancies"] if is_wider(d["current"], canonical)]
    if not wider:
        return None
    conflict_id = f"{ConflictType.VISIBILITY_CONFLICT.value}:canonical"
    conflict = new_conflict(
        conflict_id,
        ConflictType.VISIBILITY_CONFLICT,
        "shown more widely on "
        + ", ".join(f"{d['service']} ({d['current']})" for d in wider)
        + f" than its canonical level ({canonical.value})",
        sorted(d["service"] for d in wider),
        [("canonical", canonical.value), *((d["service"], d["current"]) for d in wider)],
        field_name="visibility",
    )
    carry_decision(conflict, previous.get(conflict_id))
    if conflict["status"] == "open" and "most_restrictive_visibility" in rules:
        conflict["status"] = "resolved"
        conflict["resolution"] = new_decision(
            "canonical", canonical.value, by=by, rule="most_restrictive_visibility"
        )
    return conflict


def unapproved_conflict(
    record: Record, previous: dict[str, Conflict], seals: Sealer
) -> Conflict | None:
    """A canonical level wider than the last trusted approval (a hand edit, a merge, a
    script, an approval typed by hand or made in a clone without this archive's key):
    never pushed as it is (replicate caps it); a human approves it or narrows it."""
    if not unapproved_widening(record, seals.verify):
        return None
    approved = approved_level(record, seals.verify)
    canonical = record["visibility"]["canonical"]
    untrusted = untrusted_approvals(record, seals.verify)
    why = (
        f"; {len(untrusted)} approval(s) in the record were not made through photosync here "
        "(no valid seal: typed by hand, copied, or made in a clone without this archive's "
        "key) and count for nothing"
        if untrusted
        else ""
    )
    conflict_id = f"{ConflictType.VISIBILITY_CONFLICT.value}:unapproved"
    conflict = new_conflict(
        conflict_id,
        ConflictType.VISIBILITY_CONFLICT,
        f"canonical level {canonical} was never approved (last approval: "
        f"{approved.value}){why}; photos are pushed at {approved.value} until it is "
        "approved through photosync",
        [],
        [("approved", approved.value), ("canonical", canonical)],
        field_name="visibility",
    )
    carry_decision(conflict, previous.get(conflict_id))
    return conflict


def refresh_visibility_conflicts(record: Record, seals: Sealer) -> bool:
    """The visibility conflicts of a record outside a resolve pass (replicate read back
    a level wider than it asked, or met a level edited by hand): recomputed with no
    automatic rule, decisions kept. True when the record changed."""
    previous = {c["id"]: c for c in record["conflicts"]}
    before = json.dumps([record["conflicts"], record["visibility"]], sort_keys=True)
    found = [
        conflict
        for conflict in (
            visibility_conflict(record, set(), previous, by="photosync"),
            unapproved_conflict(record, previous, seals),  # after: see analyze
        )
        if conflict is not None
    ]
    kept = [c for c in record["conflicts"] if c["type"] != ConflictType.VISIBILITY_CONFLICT.value]
    record["conflicts"] = sorted(kept + found, key=lambda c: c["id"])
    return json.dumps([record["conflicts"], record["visibility"]], sort_keys=True) != before


def approve_visibility(
    record: Record,
    level: Visibility,
    *,
    by: str,
    reason: str | None,
    seals: Sealer,
    service: str | None = None,
) -> bool:
    """The only way a photo's canonical visibility gets wider: an explicit, recorded,
    sealed approval (see ``archive.seals``)."""
    vis = record["visibility"]
    previous = Visibility(vis["canonical"])
    if previous == level and not is_wider(level, approved_level(record, seals.verify)):
        return False
    vis["approvals"].append(
        sealed_approval(
            record,
            level,
            previous=previous.value,
            by=by,
            reason=reason,
            seals=seals,
            service=service,
        )
    )
    set_canonical_level(record, level)
    return True


def narrow_visibility(
    record: Record, level: Visibility, *, by: str, reason: str | None, seals: Sealer
) -> None:
    """A narrowing needs no approval, but is recorded as one: the last approval is the
    widest level replicate may push, so an older, wider approval must not let a later
    hand edit widen it again."""
    record["visibility"]["approvals"].append(
        sealed_approval(
            record,
            level,
            previous=record["visibility"]["canonical"],
            by=by,
            reason=reason,
            seals=seals,
        )
    )
    set_canonical_level(record, level)


def set_canonical_level(record: Record, level: Visibility) -> None:
    """The canonical level, and each service that shows another one as a discrepancy."""
    vis = record["visibility"]
    vis["canonical"] = level.value
    vis["discrepancies"] = [
        {"service": s, "current": lvl, "canonical": level.value}
        for s, lvl in sorted(vis["per_service"].items())
        if lvl != level.value
    ]


def sealed_approval(
    record: Record,
    level: Visibility,
    *,
    previous: str,
    by: str,
    reason: str | None,
    seals: Sealer,
    service: str | None = None,
) -> Approval:
    """An approval as photosync makes it: who, when, why, sealed for this photo and level."""
    approval: Approval = {
        "level": level.value,
        "previous": previous,
        "by": by,
        "at": utc_now(),
        "reason": reason,
    }
    if service is not None:
        approval["service"] = service
    approval["seal"] = seals.seal(record["photo_id"], approval)
    return approval
