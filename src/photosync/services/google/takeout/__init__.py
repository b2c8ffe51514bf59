"""Google Takeout archives as a read-only source of original photos.

A Takeout export is the only way to get a Google Photos library's original
bytes and its metadata (the Library API reads app-created items only). Exports
come as several ``.zip``/``.tgz`` parts, each a complete archive; a photo and
its JSON sidecar can sit in different parts, so *every* part is indexed before
anything is matched. Archives are read as streams; nothing is unpacked to disk.

Decisions (documented for the workflow and the user):

* The product folder (``Takeout/Google Photos``, ``Takeout/Google Fotos``,
  ``Takeout/Zdjęcia Google`` ...) is found by structure: the parent of the
  ``Photos from YYYY`` folders, else the folder under ``Takeout/`` holding the
  most media files.
* A photo that sits in its year folder and in album folders is ONE item; album
  folders add membership (``extra["albums"]``). Identity groups files, it never
  decides whether bytes are kept: a file of the item that may differ from the
  first one (another size, or another zip CRC) is listed as one of its
  ``copies`` (id ``<id>#copy:<path>``); discover stores every one and gives the
  item's id the best (resolve's quality rules). Same-size files in folders and
  tar parts are taken as identical (telling them apart costs a second read).
  Flags a sidecar states (archived, trashed, favorited) hold whichever file's
  sidecar said them.
* Identity: ``instance_id`` is the key of the sidecar's ``url``
  (``https://photos.google.com/photo/<key>``); without one it is
  ``path:<path under the product folder>:<size>`` (and the item names those
  path ids as ``aliases``, so that an export lacking a sidecar part and a
  complete one agree on one instance). ``-edited`` copies become
  ``<parent>#edit:<file>`` and Live/motion video halves ``<parent>#live:<file>``;
  both inherit the parent's sidecar metadata and are linked both ways in
  ``extra`` (``edit_of``/``edits``, ``live_photo_of``/``live_photo_video``).
* Archive: a normal photo flagged ``extra["archived"]``.
  Trash: listed so it is never lost, flagged ``trashed`` and
  ``do_not_replicate`` (never uploaded anywhere).
  Locked Folder: listed, private, flagged ``locked`` and ``do_not_replicate``.
  Failed Videos: listed with a problem note (Google could not process them).
* Dates come from ``photoTakenTime.timestamp`` as UTC; ``formatted`` is never
  parsed; a missing or ``"0"`` timestamp means no date from the sidecar.
* ``version`` digests the size and the mapped metadata (not view counts), so a
  re-import or a later full/incremental export leaves unchanged items alone.

The package, by concept (imports point down this list, never up):

* ``names``: extensions, localized folder names, sidecar-name truncation and ``(1)`` rules;
* ``sidecars``: what a photo sidecar or an album metadata file says;
* ``readers``: zip/tar/folder parts read as streams, with the caps against bombs;
* ``index``: the index of an export, from entries to one ``RemoteItem`` per photo;
* ``source``: ``TakeoutSource``, the service discover calls.

What other modules import from ``photosync.services.google.takeout`` is re-exported here.
"""

from __future__ import annotations

from photosync.services.google.takeout.index import (
    TakeoutIndex,
    copy_id,
)
from photosync.services.google.takeout.names import (
    ALBUM_METADATA_STEMS,
    EDIT_SUFFIXES,
    MIN_TRUNCATED_STEM,
    PHOTO_EXTS,
    SIDECAR_STEM_LIMIT,
    SPECIAL_FOLDERS,
    SUPPLEMENTAL,
    VIDEO_EXTS,
    YEAR_FOLDER,
    edit_parent_name,
    match_sidecars,
    media_kind,
    motion_stem,
    nfc,
    sidecar_score,
    split_ext,
)
from photosync.services.google.takeout.readers import (
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_SIDECAR_BYTES,
    GB,
    MAX_ENTRIES,
    MB,
    RATIO_FLOOR_BYTES,
    Entry,
    TakeoutError,
    export_key,
    open_entry,
    safe_member_path,
)
from photosync.services.google.takeout.sidecars import (
    SHARING_LEVELS,
    SidecarFacts,
    album_access,
    album_title,
    parse_sidecar,
    sharing_level,
    url_key,
    utc_iso,
)
from photosync.services.google.takeout.source import (
    TakeoutSource,
)

__all__ = [
    "ALBUM_METADATA_STEMS",
    "DEFAULT_MAX_ENTRY_BYTES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_SIDECAR_BYTES",
    "EDIT_SUFFIXES",
    "GB",
    "MAX_ENTRIES",
    "MB",
    "MIN_TRUNCATED_STEM",
    "PHOTO_EXTS",
    "RATIO_FLOOR_BYTES",
    "SHARING_LEVELS",
    "SIDECAR_STEM_LIMIT",
    "SPECIAL_FOLDERS",
    "SUPPLEMENTAL",
    "VIDEO_EXTS",
    "YEAR_FOLDER",
    "Entry",
    "SidecarFacts",
    "TakeoutError",
    "TakeoutIndex",
    "TakeoutSource",
    "album_access",
    "album_title",
    "copy_id",
    "edit_parent_name",
    "export_key",
    "match_sidecars",
    "media_kind",
    "motion_stem",
    "nfc",
    "open_entry",
    "parse_sidecar",
    "safe_member_path",
    "sharing_level",
    "sidecar_score",
    "split_ext",
    "url_key",
    "utc_iso",
]
