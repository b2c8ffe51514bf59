"""``visibility set``: the explicit command that may widen who can see a photo."""

from __future__ import annotations

from dataclasses import dataclass

from photosync.archive.archive import Archive
from photosync.errors import PhotosyncError
from photosync.model import Visibility, is_wider
from photosync.workflow.resolve import approve_visibility


@dataclass
class VisibilityChange:
    photo_id: str
    filename: str | None
    before: str
    after: str

    @property
    def widens(self) -> bool:
        return is_wider(self.after, self.before)


def resolve_photo_ids(archive: Archive, prefixes: list[str]) -> list[str]:
    """Full ids from ids or unique prefixes (at least 6 characters), like git's short hashes."""
    known = [photo_id for photo_id, _ in archive.state.all_record_paths()]
    out = []
    for prefix in prefixes:
        if len(prefix) < 6:
            raise PhotosyncError(f"photo id {prefix!r} is too short: give at least 6 characters")
        matches = [photo_id for photo_id in known if photo_id.startswith(prefix)]
        if len(matches) != 1:
            raise PhotosyncError(f"{prefix!r} matches {len(matches)} photos; give more of the id")
        out.append(matches[0])
    return out


def plan_visibility(
    archive: Archive, photo_ids: list[str], level: Visibility
) -> list[VisibilityChange]:
    changes = []
    for photo_id in photo_ids:
        record = archive.load_record(photo_id)
        before = record["visibility"]["canonical"]
        if before != level.value:
            changes.append(
                VisibilityChange(photo_id, record["metadata"].get("filename"), before, level.value)
            )
    return changes


def plan_service_approvals(
    archive: Archive, service: str, photo_ids: list[str] | None = None
) -> list[VisibilityChange]:
    """Photos a service shows more widely than their canonical level: adopting the
    service's level is a widening, so it is only ever done by explicit request."""
    wanted = set(photo_ids) if photo_ids else None
    changes = []
    for record in archive.iter_records():
        if wanted is not None and record["photo_id"] not in wanted:
            continue
        level = record["visibility"]["per_service"].get(service)
        canonical = record["visibility"]["canonical"]
        if level and is_wider(level, canonical):
            changes.append(
                VisibilityChange(
                    record["photo_id"], record["metadata"].get("filename"), canonical, level
                )
            )
    return changes


def apply_visibility(
    archive: Archive, changes: list[VisibilityChange], *, by: str, reason: str | None
) -> str | None:
    """Widening is recorded as an approval (who, when, why); narrowing needs none."""
    for change in changes:
        record = archive.load_record(change.photo_id)
        level = Visibility(change.after)
        if change.widens:
            approve_visibility(record, level, by=by, reason=reason or "photosync visibility set")
        else:
            record["visibility"]["canonical"] = level.value
        record["visibility"]["discrepancies"] = [
            {"service": s, "current": lvl, "canonical": level.value}
            for s, lvl in sorted(record["visibility"]["per_service"].items())
            if lvl != level.value
        ]
        archive.write_record(record)
    widened = sum(c.widens for c in changes)
    return archive.commit(
        f"visibility: {len(changes)} photo(s) set by {by} ({widened} widened with approval, {len(changes) - widened} narrowed)"
    )
