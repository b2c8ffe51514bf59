"""The ``google-takeout`` service discover calls: Takeout parts as a read-only source."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.errors import ItemUnavailable
from photosync.services.base import (
    ListingReport,
    RemoteItem,
    SourceService,
)
from photosync.services.google.takeout.index import TakeoutIndex
from photosync.services.google.takeout.readers import (
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_SIDECAR_BYTES,
    TakeoutError,
    open_entry,
)


class TakeoutSource(SourceService):
    """Google Photos as read from Takeout parts; settings ``{"paths": [...]}``.

    Optional settings: ``max_entry_bytes``, ``max_sidecar_bytes``, ``max_ratio``.
    """

    type_name = "google-takeout"
    snapshot_listing = True

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        paths = settings.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise TakeoutError(
                f'service {name!r}: settings need "paths": a list of Takeout parts or folders'
            )
        self.paths = [Path(p).expanduser() for p in paths]
        self._index: TakeoutIndex | None = None

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], name: str = "google-photos") -> TakeoutSource:
        """For ``photosync discover --service google-photos --takeout PATH...``."""
        return cls(name, {"paths": [str(p) for p in paths]})

    def index(self) -> TakeoutIndex:
        if self._index is None:
            self._index = TakeoutIndex(
                self.paths,
                max_entry_bytes=int(self.settings.get("max_entry_bytes", DEFAULT_MAX_ENTRY_BYTES)),
                max_sidecar_bytes=int(
                    self.settings.get("max_sidecar_bytes", DEFAULT_MAX_SIDECAR_BYTES)
                ),
                max_ratio=float(self.settings.get("max_ratio", DEFAULT_MAX_RATIO)),
            )
        return self._index

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        self._index = None  # parts may have been added since the last listing
        index = self.index()
        report.warnings.extend(index.warnings)
        if not index.roots and not index.photos:
            report.warnings.append(
                "no Google Photos folder found in the Takeout parts "
                + ", ".join(p.name for p in self.paths)
            )
        for item in index.items():
            if since is not None and item.modified_at is not None and item.modified_at < since:
                continue
            yield item

    def sidecar_files(
        self, item: RemoteItem
    ) -> list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]]:
        photo = self.index().photos.get(item.instance_id)
        if photo is None or photo.sidecar_entry is None or photo.sidecar is None:
            return []
        entry = photo.sidecar_entry
        name = photo.sidecar.rpartition("/")[2]
        return [(name, lambda: contextlib.closing(open_entry(entry)))]

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        index = self.index()
        photo = index.photos.get(item.instance_id)
        entry = photo.entry if photo is not None else index.copy_entries.get(item.instance_id)
        if entry is None:
            raise ItemUnavailable(f"{item.instance_id} is not in the Takeout parts given")
        return contextlib.closing(open_entry(entry))
