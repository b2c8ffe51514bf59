"""The index of an export: every part read, folders classified, media paired with
sidecars across parts, edits and Live halves linked, and one RemoteItem per photo.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.model import ObservedMetadata, Visibility
from photosync.services.base import (
    RemoteItem,
    VisibilityObservation,
)
from photosync.services.google.takeout.names import (
    ALBUM_METADATA_STEMS,
    EDIT_SUFFIXES,
    SPECIAL_FOLDERS,
    SUPPLEMENTAL,
    YEAR_FOLDER,
    edit_parent_name,
    match_sidecars,
    media_kind,
    motion_stem,
    nfc,
    split_ext,
)
from photosync.services.google.takeout.readers import (
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_SIDECAR_BYTES,
    Entry,
    PartsReader,
    entry_time,
)
from photosync.services.google.takeout.sidecars import (
    SidecarFacts,
    SidecarJson,
    origin_sharing,
    sharing_level,
    sidecar_flags,
    sidecar_sources,
)


def copy_id(photo_id: str, rel: str) -> str:
    """The id of one more file of an item, whose bytes differ from the item's own."""
    return f"{photo_id}#copy:{rel}"


@dataclass
class _Photo:
    instance_id: str
    entry: Entry
    rel: str  # path under the product folder of the canonical copy
    kind: str
    sidecar: str | None = None
    #: the sidecar JSON's entry: its bytes are kept (discover stores them as a blob)
    sidecar_entry: Entry | None = None
    facts: SidecarFacts = field(default_factory=SidecarFacts)
    albums: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)
    #: album title -> its ``album_access``, for every album of the item that says one
    sharing: dict[str, str] = field(default_factory=dict)
    #: in an album whose metadata file is in no part given: its sharing is not known
    sharing_unknown: bool = False
    problems: list[str] = field(default_factory=list)
    edit_of: str | None = None
    edit_suffix: str | None = None
    live_of: str | None = None
    edits: set[str] = field(default_factory=set)
    live_videos: set[str] = field(default_factory=set)
    copies: int = 0
    #: other files of this very item whose bytes may differ: (entry, rel), each one read
    other_files: list[tuple[Entry, str]] = field(default_factory=list)


@dataclass
class _Folder:
    name: str  # path under the product root ("" for the root itself)
    export: str
    kind: str  # "year" | "album" | "archive" | "trash" | "locked" | "failed" | "root"
    media: dict[str, Entry] = field(default_factory=dict)
    sidecars: dict[str, Entry] = field(default_factory=dict)
    album_title: str | None = None
    #: the album's sharing as its metadata file says it (``album_access``); None: the
    #: parts given hold no metadata file for it (sharing unknown, not "not shared")
    album_access: str | None = None


class TakeoutIndex:
    """All photos of a set of Takeout parts, with sidecars matched across parts."""

    def __init__(
        self,
        parts: Iterable[Path],
        *,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        max_sidecar_bytes: int = DEFAULT_MAX_SIDECAR_BYTES,
        max_ratio: float = DEFAULT_MAX_RATIO,
    ) -> None:
        self.warnings: list[str] = []
        self._indexer = PartsReader(
            max_entry_bytes=max_entry_bytes,
            max_sidecar_bytes=max_sidecar_bytes,
            max_ratio=max_ratio,
            warn=self.warnings.append,
        )
        for part in parts:
            self._indexer.add_part(Path(part))
        self.photos: dict[str, _Photo] = {}
        #: ids of the other files of an item (``copy_id``) -> their entries, for open_item
        self.copy_entries: dict[str, Entry] = {}
        self.roots = self._product_roots()
        self._build()

    # -- structure --------------------------------------------------------

    def _product_roots(self) -> list[str]:
        roots: set[str] = set()
        for _export, path in self._indexer.entries:
            parts = path.split("/")
            for position, component in enumerate(parts[:-1]):
                if YEAR_FOLDER.match(component):
                    roots.add("/".join(parts[:position]))
                    break
        if roots:
            return sorted(roots, key=len, reverse=True)
        # no year folders: the folder under Takeout/ with the most photo sidecars
        # (other products, e.g. YouTube, have media but no ``<name>.<ext>.json``)
        counts: dict[str, tuple[int, int]] = {}
        for _export, path in self._indexer.entries:
            parts = path.split("/")
            if len(parts) >= 3 and parts[0] == "Takeout":
                root = "/".join(parts[:2])
            elif parts[0] == "Takeout":
                root = "Takeout"
            else:
                root = ""
            sidecars, media = counts.get(root, (0, 0))
            name = parts[-1]
            if name.lower().endswith(".json"):
                stem = name[: -len(".json")]
                if SUPPLEMENTAL[:3] in stem.lower() or media_kind(stem):
                    sidecars += 1
            elif media_kind(name) is not None:
                media += 1
            counts[root] = (sidecars, media)
        candidates = {root: c for root, c in counts.items() if c[1]}
        if not candidates:
            return []
        return [max(sorted(candidates), key=lambda r: candidates[r])]

    def _folders(self) -> list[_Folder]:
        folders: dict[tuple[str, str], _Folder] = {}
        for (export, path), entry in self._indexer.entries.items():
            root = next(
                (r for r in self.roots if r == "" or path.startswith(r + "/")),
                None,
            )
            if root is None:
                continue
            rel = path[len(root) + 1 :] if root else path
            folder_name, _, name = rel.rpartition("/")
            folder = folders.get((export, folder_name))
            if folder is None:
                folder = folders[(export, folder_name)] = _Folder(
                    name=folder_name, export=export, kind="album"
                )
            if name.lower().endswith(".json"):
                if folder_name == "":
                    continue  # product-level files (print-subscriptions.json, ...)
                folder.sidecars[name] = entry
            elif media_kind(name) is not None:
                folder.media[name] = entry
            elif not name.lower().endswith((".html", ".htm", ".txt", ".csv")):
                # unknown extension: keep it (a Takeout never holds junk worth losing)
                folder.media[name] = entry
        for folder in folders.values():
            self._classify(folder)
        order = {
            "year": 0,
            "root": 1,
            "archive": 2,
            "locked": 3,
            "failed": 4,
            "trash": 5,
            "album": 6,
        }
        return sorted(folders.values(), key=lambda f: (order[f.kind], f.export, f.name))

    def _classify(self, folder: _Folder) -> None:
        leaf = folder.name.rpartition("/")[2]
        if folder.name == "":
            folder.kind = "root"
            return
        meta_name = None
        for name, entry in sorted(folder.sidecars.items()):
            stem = name[: -len(".json")]
            parsed = self._indexer.json.get((entry.export, entry.path), SidecarJson())
            named = nfc(stem).casefold() in ALBUM_METADATA_STEMS
            if (named or parsed.album_like) and split_ext(stem)[1] == "":
                meta_name = name
                folder.album_title = parsed.album_title
                folder.album_access = parsed.album_access
                if named:
                    break
        if meta_name is not None:
            del folder.sidecars[meta_name]
        if YEAR_FOLDER.match(leaf):
            folder.kind = "year"
            return
        special = SPECIAL_FOLDERS.get(nfc(leaf).casefold())
        if special is not None and (meta_name is None or folder.album_title in (None, leaf)):
            folder.kind = special
            return
        folder.kind = "album"
        if folder.album_title is None:
            folder.album_title = leaf

    # -- matching ---------------------------------------------------------

    def _facts(self, entry: Entry) -> tuple[SidecarFacts, str | None]:
        parsed = self._indexer.json.get((entry.export, entry.path), SidecarJson())
        if parsed.error is not None:
            return SidecarFacts(), f"sidecar {entry.path}: {parsed.error}"
        if not parsed.is_object or parsed.facts is None:
            return SidecarFacts(), f"sidecar {entry.path}: not a JSON object; ignored"
        return parsed.facts, None

    def _titles(self, folder: _Folder) -> dict[str, str]:
        titles: dict[str, str] = {}
        for name, entry in folder.sidecars.items():
            title = self._indexer.json.get((entry.export, entry.path), SidecarJson()).title
            if title is not None:
                titles[name] = title
        return titles

    def _plan(
        self, folder: _Folder
    ) -> tuple[_Folder, list[str], dict[str, tuple[str, str]], dict[str, str]]:
        """A folder's primaries, its children (edits, Live halves) and matched sidecars."""
        names = list(folder.media)
        children: dict[str, tuple[str, str]] = {}
        for name in names:
            parent = edit_parent_name(name, names)
            if parent is not None:
                children[name] = ("edit", parent[0])
        primaries = [n for n in names if n not in children]
        matched = match_sidecars(primaries, folder.sidecars, self._titles(folder))
        # Live/motion halves: a video with no sidecar beside a photo with the same stem
        stills = {motion_stem(n): n for n in sorted(primaries) if media_kind(n) == "photo"}
        for name in sorted(primaries):
            if name in matched or media_kind(name) != "video":
                continue
            still = stills.get(motion_stem(name))
            if still is not None:
                children[name] = ("live", still)
        primaries = [n for n in primaries if n not in children]
        return folder, primaries, children, matched

    def _build(self) -> None:
        by_fingerprint: dict[tuple[str, int], str] = {}
        pending_orphans: list[tuple[_Folder, str, Entry]] = []
        plans = [self._plan(folder) for folder in self._folders()]
        # media with a sidecar first, in every folder: a copy without one (its sidecar in a
        # part not given, or only beside the album copy) then finds the Google id by name and size
        local_ids: list[dict[str, str]] = []
        for folder, primaries, _children, matched in plans:
            local_ids.append(
                {
                    name: self._add_primary(folder, name, matched[name], by_fingerprint)
                    for name in sorted(primaries)
                    if name in matched
                }
            )
        for (folder, primaries, children, matched), ids in zip(plans, local_ids, strict=True):
            for name in sorted(primaries):
                if name not in matched:
                    ids[name] = self._add_primary(folder, name, None, by_fingerprint)
            for name in sorted(children):
                relation, parent_name = children[name]
                parent_id = ids.get(parent_name)
                if parent_id is None:  # an edit of an edit, or of a live half: attach to root
                    nested = children.get(parent_name)
                    parent_id = ids.get(nested[1]) if nested else None
                if parent_id is None:
                    ids[name] = self._add_primary(folder, name, None, by_fingerprint)
                    continue
                ids[name] = self._add_child(folder, name, relation, parent_id, by_fingerprint)
            used = set(matched.values())
            for sidecar_name, entry in sorted(folder.sidecars.items()):
                if sidecar_name not in used:
                    pending_orphans.append((folder, sidecar_name, entry))
        for folder, _sidecar_name, entry in pending_orphans:
            facts, _error = self._facts(entry)
            if facts.key and facts.key in self.photos:
                self._add_membership(self.photos[facts.key], folder)
                continue
            self.warnings.append(f"sidecar with no media: {entry.path} (in {entry.part.name})")
        for photo in self.photos.values():
            if photo.sidecar is None and photo.edit_of is None and photo.live_of is None:
                self.warnings.append(
                    f"media with no sidecar (listed without Google metadata): {photo.rel}"
                )

    def _add_membership(self, photo: _Photo, folder: _Folder) -> None:
        photo.copies += 1
        photo.folders.add(folder.name)
        if folder.kind == "album" and folder.album_title:
            photo.albums.add(folder.album_title)
            if folder.album_access is not None:
                photo.sharing[folder.album_title] = folder.album_access
            else:
                photo.sharing_unknown = True
        elif folder.kind in ("archive", "trash", "locked", "failed"):
            photo.flags.add(folder.kind)

    def _merge(self, photo_id: str, folder: _Folder, entry: Entry) -> _Photo | None:
        existing = self.photos.get(photo_id)
        if existing is None:
            return None
        rel = f"{folder.name}/{entry.path.rpartition('/')[2]}" if folder.name else entry.path
        known = [existing.entry, *(other for other, _rel in existing.other_files)]
        if all(other.may_differ(entry) for other in known):
            # identity groups the files; it never decides whether bytes are kept
            existing.other_files.append((entry, rel))
            self.copy_entries[copy_id(photo_id, rel)] = entry
            existing.problems.append(
                f"copies differ: {existing.rel} ({existing.entry.size} bytes) and {rel} "
                f"({entry.size} bytes); both are kept, the better one as the original"
            )
        self._add_membership(existing, folder)
        return existing

    def _add_primary(
        self,
        folder: _Folder,
        name: str,
        sidecar_name: str | None,
        by_fingerprint: dict[tuple[str, int], str],
    ) -> str:
        entry = folder.media[name]
        rel = f"{folder.name}/{name}" if folder.name else name
        facts = SidecarFacts()
        problem = None
        sidecar_rel = None
        sidecar_entry = None
        if sidecar_name is not None:
            sidecar_entry = folder.sidecars[sidecar_name]
            facts, problem = self._facts(sidecar_entry)
            sidecar_rel = f"{folder.name}/{sidecar_name}"
        fingerprint = (name, entry.size)
        # without a Google id: the path and size, the same in every export of this file
        photo_id = facts.key or by_fingerprint.get(fingerprint) or f"path:{rel}:{entry.size}"
        existing = self._merge(photo_id, folder, entry)
        if existing is not None:
            if existing.sidecar is None and sidecar_rel is not None:
                existing.sidecar, existing.facts = sidecar_rel, facts
                existing.sidecar_entry = sidecar_entry
            # what any of its sidecars says about the item holds, whichever came first
            existing.flags.update(sidecar_flags(facts))
            if problem and problem not in existing.problems:
                existing.problems.append(problem)
                self.warnings.append(problem)
            return photo_id
        photo = _Photo(
            instance_id=photo_id,
            entry=entry,
            rel=rel,
            kind=media_kind(name) or "unknown",
            sidecar=sidecar_rel,
            sidecar_entry=sidecar_entry,
            facts=facts,
        )
        if problem:
            photo.problems.append(problem)
            self.warnings.append(problem)
        self.photos[photo_id] = photo
        by_fingerprint.setdefault(fingerprint, photo_id)
        self._add_membership(photo, folder)
        return photo_id

    def _add_child(
        self,
        folder: _Folder,
        name: str,
        relation: str,
        parent_id: str,
        by_fingerprint: dict[tuple[str, int], str],
    ) -> str:
        entry = folder.media[name]
        rel = f"{folder.name}/{name}" if folder.name else name
        child_id = f"{parent_id}#{relation}:{name}"
        if self._merge(child_id, folder, entry) is not None:
            return child_id
        parent = self.photos[parent_id]
        photo = _Photo(
            instance_id=child_id,
            entry=entry,
            rel=rel,
            kind=media_kind(name) or "unknown",
            facts=parent.facts,
        )
        if relation == "edit":
            photo.edit_of = parent_id
            stem = split_ext(name)[0]
            photo.edit_suffix = next(
                (s for s in EDIT_SUFFIXES if stem.casefold().endswith(s.casefold())), None
            )
            parent.edits.add(child_id)
        else:
            photo.live_of = parent_id
            parent.live_videos.add(child_id)
        self.photos[child_id] = photo
        by_fingerprint.setdefault((name, entry.size), child_id)
        self._add_membership(photo, folder)
        return child_id

    # -- output -----------------------------------------------------------

    def items(self) -> Iterator[RemoteItem]:
        for photo_id in sorted(self.photos):
            yield self._item(self.photos[photo_id])

    def _item(self, photo: _Photo, *, entry: Entry | None = None, rel: str = "") -> RemoteItem:
        """The item, or with ``entry`` one more file of it (id ``<id>#copy:<rel>``)."""
        copy_of = photo.instance_id if entry is not None else None
        entry = entry or photo.entry
        rel = rel or photo.rel
        facts = photo.facts
        parent = self.photos.get(photo.edit_of or photo.live_of or "")
        flags = set(photo.flags) | (parent.flags if parent else set())
        albums = set(photo.albums) | (parent.albums if parent else set())
        flags |= sidecar_flags(facts)
        sharing = {**(parent.sharing if parent else {}), **photo.sharing}
        origin_share = origin_sharing(facts)
        if origin_share is not None:
            sharing["googlePhotosOrigin"] = origin_share  # the photo's own origin
        level = sharing_level(sharing)
        unknown = (photo.sharing_unknown or bool(parent and parent.sharing_unknown)) and (
            level is Visibility.PRIVATE
        )
        extra: dict[str, Any] = {
            "takeout_path": rel,
            "sidecar": photo.sidecar if photo.sidecar else None,
            "albums": sorted(albums),
            "people": facts.people,
            "favorited": "favorited" in flags,
            "archived": "archive" in flags,
            "trashed": "trash" in flags,
            "locked": "locked" in flags,
            "failed_video": "failed" in flags,
            "do_not_replicate": bool({"trash", "locked"} & flags),
        }
        if facts.title:
            extra["google_title"] = facts.title
        if facts.origin:
            extra["origin"] = facts.origin
        if facts.app_source:
            extra["app_source"] = facts.app_source
        if photo.edit_of:
            extra["edit_of"] = photo.edit_of
            extra["variant"] = "edited"
            extra["edit_suffix"] = photo.edit_suffix
        if photo.edits:
            extra["edits"] = sorted(photo.edits)
        if photo.live_of:
            extra["live_photo_of"] = photo.live_of
        if photo.live_videos:
            extra["live_photo_video"] = sorted(photo.live_videos)
        problems = list(photo.problems)
        if "failed" in flags:
            problems.append("in Google's 'Failed Videos' folder: Google could not process it")
        if "trash" in flags:
            problems.append("in the Google Photos trash: kept in the archive, never replicated")
        if copy_of is not None:
            extra["copy_of"] = copy_of
        filename = rel.rpartition("/")[2]
        observed = ObservedMetadata(
            taken_date=facts.taken_date,
            taken_date_source="google-takeout:photoTakenTime" if facts.taken_date else None,
            filename=filename,
            location=facts.location,
            caption=facts.caption,
            albums=sorted(albums),
            sources=sidecar_sources(facts),
        )
        version_basis: dict[str, Any] = {
            "size": entry.size,
            "observed": observed.to_json(),
            "extra": {k: v for k, v in extra.items() if k not in ("takeout_path", "sidecar")},
        }
        if photo.other_files and copy_of is None:
            # an item's version covers all its files: one changed, the item is read again
            version_basis["files"] = [(e.size, e.crc) for e, _ in photo.other_files]
        version = hashlib.sha256(
            json.dumps(version_basis, sort_keys=True, default=str).encode()
        ).hexdigest()[:32]
        return RemoteItem(
            instance_id=photo.instance_id if copy_of is None else copy_id(copy_of, rel),
            version=version,
            filename=filename,
            size=entry.size,
            media_type=photo.kind if photo.kind in ("photo", "video") else None,
            observed=observed,
            # an album whose metadata is in a part not given: sharing not said (discover
            # keeps what an earlier export said), unless a known share is wider already
            visibility=None
            if unknown
            else VisibilityObservation(
                level,
                raw="locked-folder"
                if "locked" in flags
                else ({"shared": dict(sorted(sharing.items()))} if sharing else "library"),
            ),
            url=facts.url if not (photo.edit_of or photo.live_of or copy_of) else None,
            quality="original",
            original_available=True,
            local_path=Path(entry.member) if entry.kind == "dir" else None,
            modified_at=facts.created or entry_time(entry),
            modified_at_source="service:upload" if facts.created else "file:mtime",
            extra=extra,
            problems=problems,
            aliases=self._path_ids(photo) if copy_of is None else (f"path:{rel}:{entry.size}",),
            copies=tuple(self._item(photo, entry=e, rel=r) for e, r in photo.other_files)
            if copy_of is None
            else (),
            copy_id=copy_id(photo.instance_id, rel) if photo.other_files else None,
        )

    def _path_ids(self, photo: _Photo) -> tuple[str, ...]:
        """The path-based ids this file gets in an export that lacks its sidecar."""
        name = photo.rel.rpartition("/")[2]
        parent_id = photo.edit_of or photo.live_of
        if parent_id is not None:
            parent = self.photos.get(parent_id)
            relation = "edit" if photo.edit_of else "live"
            if parent is None:
                return ()
            return tuple(f"{alias}#{relation}:{name}" for alias in self._path_ids(parent))
        if photo.instance_id.startswith("path:"):
            return ()
        return tuple(
            sorted(
                f"path:{folder + '/' if folder else ''}{name}:{photo.entry.size}"
                for folder in photo.folders
            )
        )
