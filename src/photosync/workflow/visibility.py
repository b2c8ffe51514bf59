"""``visibility set``: the explicit command that may widen who can see a photo."""

from __future__ import annotations

from dataclasses import dataclass

from photosync.archive.archive import Archive
from photosync.archive.seals import ApprovalSeals, parse_key, save_key
from photosync.errors import PhotosyncError
from photosync.model import Visibility, approved_level, is_wider
from photosync.model.privacy import approve_visibility, narrow_visibility, set_canonical_level
from photosync.workflow.context import check_service_name


@dataclass
class VisibilityChange:
    photo_id: str
    filename: str | None
    before: str
    after: str
    #: wider than the last approval (a level set by hand): an approval even when equal
    unapproved: bool = False
    #: the service whose level is adopted (``visibility approve``), kept in the approval
    service: str | None = None

    @property
    def widens(self) -> bool:
        return is_wider(self.after, self.before) or self.unapproved


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
        # the same level counts too when it was never approved (a hand edit): setting
        # it through photosync is the approval
        unapproved = is_wider(level, approved_level(record, archive.seals.verify))
        if before != level.value or unapproved:
            changes.append(
                VisibilityChange(
                    photo_id, record["metadata"].get("filename"), before, level.value, unapproved
                )
            )
    return changes


def plan_service_approvals(
    archive: Archive, service: str, photo_ids: list[str] | None = None
) -> list[VisibilityChange]:
    """Photos a service shows more widely than their canonical level: adopting the
    service's level is a widening, so it is only ever done by explicit request."""
    check_service_name(archive, service)
    wanted = set(photo_ids) if photo_ids else None
    changes = []
    for record in archive.iter_records():
        if wanted is not None and record["photo_id"] not in wanted:
            continue
        level = record["visibility"]["per_service"].get(service)
        canonical = record["visibility"]["canonical"]
        if level and (
            is_wider(level, canonical)
            or is_wider(level, approved_level(record, archive.seals.verify))
        ):
            changes.append(
                VisibilityChange(
                    record["photo_id"],
                    record["metadata"].get("filename"),
                    canonical,
                    level,
                    is_wider(level, approved_level(record, archive.seals.verify)),
                    service,
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
            if not approve_visibility(
                record,
                level,
                by=by,
                reason=reason or "photosync visibility set",
                seals=archive.seals,
                service=change.service,
            ):  # already at that level: its discrepancies are said again all the same
                set_canonical_level(record, level)
        else:
            narrow_visibility(
                record,
                level,
                by=by,
                reason=reason or "photosync visibility set (narrowed)",
                seals=archive.seals,
            )
        archive.write_record(record)
    widened = sum(c.widens for c in changes)
    return archive.commit(
        f"visibility: {len(changes)} photo(s) set by {by} ({widened} widened with approval, {len(changes) - widened} narrowed)"
    )


def export_key(archive: Archive) -> str:
    """This archive's approval key, to copy to another clone (``visibility key import``)."""
    key = archive.seals.key_hex()
    if key is None:
        raise PhotosyncError(
            "this machine has no approval key for this archive",
            hint="Import it from the machine that has it, or run any writing command to create one.",
        )
    return key


def import_key(archive: Archive, text: str) -> tuple[str, str | None]:
    """Keep ``text`` as this archive's approval key here: approvals sealed with it verify.

    Returns the new key's fingerprint and the one it replaced (None: there was none).
    Approvals sealed with the replaced key stop verifying (those photos wait at their
    last approval that does, private when none): fail closed.
    """
    key = parse_key(text)
    before = archive.seals.fingerprint()
    save_key(archive.git, key)
    archive.reset_seals()
    new = ApprovalSeals(key).fingerprint()
    assert new is not None
    return new, before
