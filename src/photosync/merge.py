"""Merging two versions of one photo record (or one config file) without losing anything.

Two clones of an archive change the same record independently; git sees two texts,
photosync sees two records. ``merge_records`` is the rule: pure (no I/O), the same
whichever side is "ours" (commutative), a no-op on equal sides (idempotent), and
it never drops an instance, a decision, an approval, a problem or a blob location.
``base`` (the common ancestor, when git knows it) only tells which side changed a
value; a value both sides changed differently is kept as a question, not guessed.

Validating the result is the caller's job (the merge driver refuses to write a
record the schema rejects): this module sits at the model layer, below the schemas.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from photosync.model import (
    PHOTOSYNC_MARKS,
    Approval,
    Conflict,
    ConflictType,
    Decision,
    Instance,
    Metadata,
    ProcessingState,
    Record,
    Visibility,
    VisibilityState,
    _level_or_private,
    iter_instances,
    joined_hashes,
    most_restrictive,
)


class MergeError(ValueError):
    """Two versions photosync cannot merge safely (different photos, different schema)."""


_STATE_RANK = {s.value: rank for rank, s in enumerate(ProcessingState)}
_MISSING: Any = object()

#: metadata fields merged together (a date and where it came from are one fact)
_METADATA_UNITS: tuple[tuple[str, ...], ...] = (
    ("taken_date", "taken_date_source"),
    ("caption",),
    ("title",),
    ("filename",),
    ("location",),
    ("camera_info",),
)
#: fields whose merge is a set union (a tag or album added on either side is kept)
_SET_FIELDS = ("tags", "albums")


def _absent(value: Any) -> str:
    """A field one side does not have (a key added or removed by hand) orders too."""
    if value is _MISSING:
        return "\u0000absent"
    raise TypeError(f"{type(value).__name__} is not JSON")


def _key(value: Any) -> str:
    """A total order on JSON values, so that every tie is broken the same way on both sides."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_absent)


def _pick(ours: Any, theirs: Any, base: Any, tiebreak: Callable[[Any, Any], Any]) -> Any:
    """Three-way choice of one value: the side that changed it wins; both changed: tiebreak."""
    if _key(ours) == _key(theirs):
        return ours
    if base is not _MISSING:
        if _key(ours) == _key(base):
            return theirs
        if _key(theirs) == _key(base):
            return ours
    return tiebreak(ours, theirs)


def _prefer_present(ours: Any, theirs: Any) -> Any:
    """A value over no value; otherwise the larger by canonical JSON (an arbitrary but fixed rule)."""
    if ours in (None, _MISSING):
        return theirs
    if theirs in (None, _MISSING):
        return ours
    return max(ours, theirs, key=_key)


def _unit_order(unit: list[Any]) -> tuple[bool, str]:
    """Both changed a field differently: a value over no value, then a fixed order."""
    return (unit[0] is not None and unit[0] is not _MISSING, _key(unit))


def _both_changed(ours: Any, theirs: Any, base: Any) -> bool:
    """Without a base (the same photo discovered on both machines) a value against no
    value is not a disagreement: the side that has one gave it."""
    if _key(ours) == _key(theirs):
        return False
    if base is _MISSING:
        return all(v not in (None, _MISSING) for v in (ours, theirs))
    return _key(ours) != _key(base) and _key(theirs) != _key(base)


def _union(
    ours: Iterable[Any],
    theirs: Iterable[Any],
    base: Iterable[Any] | None,
    key: Callable[[Any], Any],
) -> list[Any]:
    """Items of both sides, once each; an item only leaves when one side removed it and the
    other left it exactly as it was in ``base`` (a removal photosync made on purpose)."""
    ours_by = {key(item): item for item in ours}
    theirs_by = {key(item): item for item in theirs}
    base_by = {key(item): item for item in base or ()}
    out: dict[Any, Any] = {}
    for k in sorted(set(ours_by) | set(theirs_by), key=_key):
        a, b = ours_by.get(k, _MISSING), theirs_by.get(k, _MISSING)
        if a is _MISSING or b is _MISSING:
            present = b if a is _MISSING else a
            if k in base_by and _key(present) == _key(base_by[k]):
                continue  # removed on one side, untouched on the other
            out[k] = present
        else:
            out[k] = a if _key(a) == _key(b) else max(a, b, key=_key)
    return list(out.values())


def _merge_instance(ours: Instance, theirs: Instance, base: Any) -> Instance:
    """The same service item seen on both machines: the newer sighting, photosync's marks of both."""
    if _key(ours) == _key(theirs):
        return ours
    chosen: Instance = _pick(
        ours,
        theirs,
        base,
        lambda a, b: max(a, b, key=lambda i: (str(i.get("last_sync", "")), _key(i))),
    )
    marks: dict[str, Any] = {}
    for side in (theirs, ours):
        for name, value in (side.get("extra") or {}).items():
            if name in PHOTOSYNC_MARKS and value:
                old = marks.get(name)
                if isinstance(old, list) and isinstance(value, list):
                    value = sorted({_key(v): v for v in [*old, *value]}.values(), key=_key)
                marks[name] = (
                    value if old is None or isinstance(value, list) else max(old, value, key=_key)
                )
    if marks:
        chosen = {**chosen, "extra": {**(chosen.get("extra") or {}), **marks}}
    return chosen


def _merge_instances(
    ours: dict[str, list[Instance]],
    theirs: dict[str, list[Instance]],
    base: dict[str, list[Instance]] | None,
) -> dict[str, list[Instance]]:
    """Every service item either side has seen: instances are never removed by a merge."""
    out: dict[str, list[Instance]] = {}
    for service in sorted(set(ours) | set(theirs)):
        a = {i["id"]: i for i in ours.get(service, [])}
        b = {i["id"]: i for i in theirs.get(service, [])}
        o = {i["id"]: i for i in (base or {}).get(service, [])}
        merged = []
        for instance_id in sorted(set(a) | set(b)):
            if instance_id not in a:
                merged.append(b[instance_id])
            elif instance_id not in b:
                merged.append(a[instance_id])
            else:
                merged.append(
                    _merge_instance(a[instance_id], b[instance_id], o.get(instance_id, _MISSING))
                )
        out[service] = merged
    return out


def _undo_joins(
    instances: dict[str, list[Instance]], a: Record, b: Record, o: Record, undone: set[str]
) -> dict[str, list[Instance]]:
    """A join one side undid (its link gone, e.g. ``git revert`` of the resolve commit): the
    instances that came with it leave too, the way the link did (gone on that side, exactly
    as in ``base`` on the other). The undoing side has the joined record back, holding them
    (git restores its file), so nothing is lost; one the other side changed since stays."""
    base = {(s, i["id"]): i for s, i in iter_instances(o)}
    sides = [{(s, i["id"]) for s, i in iter_instances(r)} for r in (a, b)]
    own = o.get("content_hash")
    out: dict[str, list[Instance]] = {}
    for service, items in instances.items():
        kept = []
        for instance in items:
            k = (service, instance["id"])
            leaves = (
                (instance.get("content_hash") or own) in undone
                and any(k not in side for side in sides)
                and k in base
                and _key(instance) == _key(base[k])
            )
            if not leaves:
                kept.append(instance)
        if kept or not items:  # a service only the undone join brought leaves with it
            out[service] = kept
    return out


def _decision(conflict: Conflict) -> Any:
    resolution = conflict.get("resolution") or {}
    return (resolution.get("choice"), _key(resolution.get("value")))


def _known(conflict: Conflict) -> dict[str, Decision]:
    """Every decision this side of a conflict has seen: its own and the ones it was shown."""
    seen = [*(conflict.get("decisions") or [])]
    if resolution := conflict.get("resolution"):
        seen.append(resolution)
    return {_key(d): d for d in seen}


def _by_time(decisions: Iterable[Decision]) -> list[Decision]:
    return sorted(decisions, key=lambda d: (str(d.get("at")), _key(d)))


def _merge_conflict(ours: Conflict, theirs: Conflict, base: Any) -> Conflict:
    """One conflict on both sides: a side that has seen every decision of the other is the
    newer one; otherwise a decision beats none, and two different decisions reopen it."""
    if _key(ours) == _key(theirs):
        return ours
    if base is not _MISSING:
        if _key(ours) == _key(base):
            return theirs
        if _key(theirs) == _key(base):
            return ours
    known_a, known_b = _known(ours), _known(theirs)
    if set(known_a) != set(known_b):
        if set(known_a) >= set(known_b):
            return ours
        if set(known_b) >= set(known_a):
            return theirs
    everything = {**known_a, **known_b}
    resolved = [c for c in (ours, theirs) if c.get("status") == "resolved"]
    merged = copy.deepcopy(max(resolved or [ours, theirs], key=_key))
    if len({_decision(c) for c in resolved}) > 1:
        merged["status"] = "open"
        merged["resolution"] = None
        merged["decisions"] = _by_time(everything.values())
        return merged
    decided = [c for c in (ours, theirs) if c.get("resolution")]
    if decided:
        # a side marked resolved by hand with no resolution holds no decision to win
        settled = [c for c in resolved if c.get("resolution")]
        winner = max((c.get("resolution") or {} for c in settled or decided), key=_key)
        merged["status"] = next(c["status"] for c in decided if c.get("resolution") == winner)
        merged["resolution"] = winner
        others = [d for k, d in everything.items() if k != _key(winner)]
        if others:
            merged["decisions"] = _by_time(others)
    return merged


def _merge_conflicts(
    ours: list[Conflict], theirs: list[Conflict], base: list[Conflict] | None
) -> list[Conflict]:
    a = {c["id"]: c for c in ours}
    b = {c["id"]: c for c in theirs}
    o = {c["id"]: c for c in base or ()}
    out = []
    for conflict_id in sorted(set(a) | set(b)):
        if conflict_id in a and conflict_id in b:
            out.append(
                _merge_conflict(a[conflict_id], b[conflict_id], o.get(conflict_id, _MISSING))
            )
            continue
        present = a.get(conflict_id) or b[conflict_id]
        gone_on_purpose = conflict_id in o and _key(present) == _key(o[conflict_id])
        # a question photosync dropped on one side stays dropped; a decision never is
        if not gone_on_purpose or present.get("resolution") or present.get("decisions"):
            out.append(present)
    return out


def _approval_order(approval: Approval) -> tuple[str, int, str]:
    """Chronological; at the same second the narrower decision counts as the later one
    (fail closed: the last approval caps the level)."""
    level = _level_or_private(approval.get("level"))
    return (str(approval.get("at", "")), -level.rank, _key(approval))


def _merge_visibility(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], base: Mapping[str, Any] | None
) -> VisibilityState:
    """Both sides' visibility failing closed: the narrower level where both changed it,
    every approval of both (in order), every discrepancy either still sees."""
    b = base or {}

    def narrowest(x: Any, y: Any) -> Any:
        return most_restrictive([_level_or_private(x), _level_or_private(y)]).value

    per_service: dict[str, Any] = {}
    ps_a, ps_b, ps_o = (
        ours.get("per_service", {}),
        theirs.get("per_service", {}),
        b.get("per_service", {}),
    )
    for service in sorted(set(ps_a) | set(ps_b)):
        if service not in ps_a or service not in ps_b:
            per_service[service] = ps_a.get(service, ps_b.get(service))
        else:
            per_service[service] = _pick(
                ps_a[service], ps_b[service], ps_o.get(service, _MISSING), narrowest
            )
    approvals = {_key(a): a for a in [*ours.get("approvals", []), *theirs.get("approvals", [])]}
    return {
        "canonical": _pick(
            ours.get("canonical", Visibility.PRIVATE.value),
            theirs.get("canonical", Visibility.PRIVATE.value),
            b.get("canonical", _MISSING),
            narrowest,
        ),
        "per_service": per_service,
        "discrepancies": _union(
            ours.get("discrepancies", []),
            theirs.get("discrepancies", []),
            b.get("discrepancies"),
            _key,
        ),
        "approvals": sorted(approvals.values(), key=_approval_order),
    }


def _merge_metadata(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], base: Mapping[str, Any] | None
) -> tuple[Metadata, list[Conflict]]:
    """Canonical metadata and the questions it leaves: a field both sides changed differently
    takes a fixed one of the two values and opens a ``metadata_mismatch`` showing both."""
    out: dict[str, Any] = {}
    questions: list[Conflict] = []
    b = base if base is not None else {}
    known = {name for unit in _METADATA_UNITS for name in unit} | set(_SET_FIELDS)
    units = [*_METADATA_UNITS, *((k,) for k in sorted(set(ours) | set(theirs)) if k not in known)]
    for unit in units:
        a_val = [ours.get(k, _MISSING) for k in unit]
        b_val = [theirs.get(k, _MISSING) for k in unit]
        o_val = [b.get(k, _MISSING) for k in unit] if base is not None else _MISSING
        if all(v is _MISSING for v in (*a_val, *b_val)):
            continue
        chosen = _pick(a_val, b_val, o_val, lambda x, y: max(x, y, key=_unit_order))
        for name, value in zip(unit, chosen, strict=True):
            if value is not _MISSING:
                out[name] = value
        field = unit[0]
        if _both_changed(a_val[0], b_val[0], o_val[0] if o_val is not _MISSING else _MISSING):
            values = sorted({_key(v): v for v in (a_val[0], b_val[0])}.values(), key=_key)
            questions.append(
                {
                    "id": f"merge:{field}",
                    "type": ConflictType.METADATA_MISMATCH.value,
                    "field": field,
                    "description": f"two clones changed {field.replace('_', ' ')} differently",
                    "services": [],
                    "resolution_required": True,
                    "status": "open",
                    "options": [
                        {"source": f"clone-{n}", "value": None if v is _MISSING else v}
                        for n, v in enumerate(values, start=1)
                    ],
                    "resolution": None,
                }
            )
    for name in _SET_FIELDS:
        if name in ours or name in theirs:
            a_set, b_set = ours.get(name) or [], theirs.get(name) or []
            o_set = b.get(name) if base is not None and name in b else None
            if name == "tags" and o_set is not None:
                removed = (set(o_set) - set(a_set)) | (set(o_set) - set(b_set))
                out[name] = sorted((set(a_set) | set(b_set)) - removed)
            else:
                out[name] = sorted(set(a_set) | set(b_set))
    return cast(Metadata, out), questions  # keys of both sides, each of a metadata's shape


def merge_records(ours: Record, theirs: Record, base: Record | None = None) -> Record:
    """One record holding everything both versions hold.

    Raises ``MergeError`` for two different photos or schema versions; the result is
    not validated here (see the module docstring).
    """
    if _key(ours) == _key(theirs):
        return copy.deepcopy(ours)
    if ours.get("photo_id") != theirs.get("photo_id"):
        raise MergeError(
            f"{ours.get('photo_id')} and {theirs.get('photo_id')} are different photos"
        )
    if ours.get("schema_version") != theirs.get("schema_version"):
        raise MergeError(f"photo {ours.get('photo_id')}: records of different schema versions")
    a, b = copy.deepcopy(ours), copy.deepcopy(theirs)
    o = copy.deepcopy(base) if base is not None and base.get("photo_id") == a["photo_id"] else None

    def get(record: Record | None, name: str) -> Any:
        return _MISSING if record is None else record.get(name, _MISSING)

    # which bytes are canonical is one decision: hash, source, path and media together
    identity = ("content_hash", "canonical_source", "source_of_truth_path")
    ident = _pick(
        [a.get(k) for k in identity],
        [b.get(k) for k in identity],
        [o.get(k) for k in identity] if o is not None else _MISSING,
        lambda x, y: min(x, y, key=lambda v: (v[2] is None, _key(v))),
    )
    # built key by key from both sides (each a record): a record once every key is in
    merged: dict[str, Any] = {name: value for name, value in zip(identity, ident, strict=True)}
    merged["schema_version"] = a["schema_version"]
    merged["photo_id"] = a["photo_id"]
    same_bytes = ident[0] == a.get("content_hash") == b.get("content_hash")
    side = a if [a.get(k) for k in identity] == ident else b
    media = (
        _pick(a.get("media"), b.get("media"), get(o, "media"), lambda x, y: max(x, y, key=_key))
        if same_bytes
        else side.get("media")
    )
    merged["media"] = media
    merged["blob_locations"] = sorted(
        {
            (loc["store"], loc["locator"]): loc
            for loc in sorted(
                [*a.get("blob_locations", []), *b.get("blob_locations", [])],
                key=lambda loc: str(loc.get("verified_at", "")),
            )
        }.values(),
        key=lambda loc: (loc["store"], loc["locator"]),
    )
    merged["instances"] = _merge_instances(
        a.get("instances", {}), b.get("instances", {}), o.get("instances") if o else None
    )
    metadata, questions = _merge_metadata(
        a.get("metadata", {}), b.get("metadata", {}), o.get("metadata") if o else None
    )
    merged["metadata"] = metadata
    merged["visibility"] = _merge_visibility(
        a.get("visibility", {}), b.get("visibility", {}), o.get("visibility") if o else None
    )
    conflicts = _merge_conflicts(
        a.get("conflicts", []), b.get("conflicts", []), o.get("conflicts") if o else None
    )
    known = {c["id"] for c in conflicts}
    conflicts.extend(q for q in questions if q["id"] not in known)
    merged["conflicts"] = sorted(conflicts, key=lambda c: c["id"])
    merged["problems"] = _union(
        a.get("problems", []), b.get("problems", []), o.get("problems") if o else None, _key
    )
    if "variants" in a or "variants" in b:
        merged["variants"] = _union(
            a.get("variants", []), b.get("variants", []), o.get("variants") if o else None, _key
        )
    if o is not None:
        undone = joined_hashes(o.get("variants", [])) - joined_hashes(merged.get("variants", []))
        if undone:
            merged["instances"] = _undo_joins(merged["instances"], a, b, o, undone)
    states = [s for s in (a.get("processing_state"), b.get("processing_state")) if s]
    state = min(states, key=lambda s: _STATE_RANK.get(s, -1))
    if any(c.get("resolution_required") and c.get("status") == "open" for c in merged["conflicts"]):
        state = ProcessingState.DISCOVERED.value  # a reopened question waits for a person again
    merged["processing_state"] = state
    merged["created_at"] = min(str(a.get("created_at", "")), str(b.get("created_at", "")))
    merged["updated_at"] = max(str(a.get("updated_at", "")), str(b.get("updated_at", "")))
    return cast(Record, merged)


def merge_sync_state(
    ours: dict[str, Any], theirs: dict[str, Any], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Discover cursors of two machines: per service the older one (its next listing
    re-reads what the newer one skipped; never misses anything)."""
    out: dict[str, Any] = {}
    a, b = ours.get("services", {}), theirs.get("services", {})
    for service in sorted(set(a) | set(b)):
        if service not in a or service not in b:
            out[service] = copy.deepcopy(a.get(service, b.get(service)))
            continue
        if _key(a[service]) == _key(b[service]):
            out[service] = copy.deepcopy(a[service])
            continue
        older = min(
            a[service], b[service], key=lambda s: (str(s.get("last_discover", "")), _key(s))
        )
        out[service] = copy.deepcopy(older)
        if a[service].get("last_discover", "") == b[service].get("last_discover", ""):
            out[service]["cursor"] = None  # cannot say which is older: list everything again
    merged = {**ours, **theirs}
    if out or "services" in merged:
        merged["services"] = out
    return merged


def merge_config(
    ours: dict[str, Any],
    theirs: dict[str, Any],
    base: dict[str, Any] | None = None,
    where: str = "",
) -> dict[str, Any]:
    """A config file changed on two machines: key by key, the side that changed a key wins;
    a key both sides changed differently cannot be decided here (MergeError, naming the
    key by its dotted path: ``services.pictures.include``)."""
    out: dict[str, Any] = {}
    o = base or {}

    def same(x: Any, y: Any) -> bool:
        return (x is _MISSING) == (y is _MISSING) and (x is _MISSING or _key(x) == _key(y))

    for name in sorted(set(ours) | set(theirs) | set(o)):
        a, b, c = ours.get(name, _MISSING), theirs.get(name, _MISSING), o.get(name, _MISSING)
        if same(a, b):
            value = a
        elif base is not None and same(a, c):
            value = b
        elif base is not None and same(b, c):
            value = a
        elif isinstance(a, dict) and isinstance(b, dict):
            value = merge_config(a, b, c if isinstance(c, dict) else None, f"{where}{name}.")
        elif a is _MISSING or b is _MISSING:
            value = b if a is _MISSING else a  # added on one side only
        else:
            raise MergeError(f"{where}{name} was changed differently on both machines")
        if value is not _MISSING:
            out[name] = value
    return out
