"""Google OAuth 2.0, Photos Library API and Picker API emulators on 127.0.0.1.

One threaded HTTP server speaks all three protocols as Google documents them
(see /work/shared/reference/google-photos.md), so that the connector, the tests
and a user's rehearsal run exercise real HTTP, real OAuth (PKCE S256 verified)
and the API's real limits: batchCreate takes at most 50 items and one call at a
time per user, pages hold at most 100 items, only app-created items are
visible, identical bytes are de-duplicated, an upload token makes one item
once (then it is invalid), tokens expire, Picker baseUrls expire and hand out
location-stripped re-encodes. Faults come from ``FaultPlan``.

Paths (relative to ``server.url``):

* ``/o/oauth2/auth`` (auto-approves, 302 to the loopback redirect_uri), ``/token``
* Library: ``/v1/uploads``, ``/v1/mediaItems``, ``/v1/mediaItems:batchCreate``,
  ``/v1/mediaItems:search``, ``/v1/mediaItems:batchGet``, ``/v1/mediaItems/{id}``,
  ``/v1/albums``, ``/v1/albums/{id}:batchAddMediaItems``
* Picker: ``/picker/v1/sessions``, ``/picker/v1/sessions/{id}``,
  ``/picker/v1/mediaItems?sessionId=``
* Downloads: ``/media/{token}=d`` (bearer required, expiring)

The package, by concept (imports point down this list, never up): ``state``
(the account), ``plumbing`` (requests, replies, bearer tokens, paging),
``oauth``, ``downloads``, ``library`` and ``picker`` (the routes of each API),
``handler`` (``GoogleHandler``: all routes on one server), ``server``
(``GoogleEmulator`` and the command). What tests import from
``photosync.emulators.google`` is re-exported here.
"""

from __future__ import annotations

from photosync.emulators.google.downloads import (
    strip_location,
)
from photosync.emulators.google.handler import (
    GoogleHandler,
)
from photosync.emulators.google.server import (
    GoogleEmulator,
    approve,
    main,
)
from photosync.emulators.google.state import (
    DEFAULT_PAGE,
    KNOWN_SCOPES,
    LIBRARY_READ,
    LIBRARY_WRITE,
    MAX_ALBUM_PAGE,
    MAX_BATCH,
    MAX_PAGE,
    MAX_PHOTO_BYTES,
    REMOVED_SCOPES,
    SCOPE_APPENDONLY,
    SCOPE_EDIT_APPCREATED,
    SCOPE_PICKER,
    SCOPE_READ_APPCREATED,
    USER,
    GoogleState,
    PickerSession,
    StoredItem,
)

__all__ = [
    "DEFAULT_PAGE",
    "KNOWN_SCOPES",
    "LIBRARY_READ",
    "LIBRARY_WRITE",
    "MAX_ALBUM_PAGE",
    "MAX_BATCH",
    "MAX_PAGE",
    "MAX_PHOTO_BYTES",
    "REMOVED_SCOPES",
    "SCOPE_APPENDONLY",
    "SCOPE_EDIT_APPCREATED",
    "SCOPE_PICKER",
    "SCOPE_READ_APPCREATED",
    "USER",
    "GoogleEmulator",
    "GoogleHandler",
    "GoogleState",
    "PickerSession",
    "StoredItem",
    "approve",
    "main",
    "strip_location",
]
