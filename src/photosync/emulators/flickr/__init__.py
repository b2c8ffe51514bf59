"""A Flickr emulator: OAuth 1.0a, the REST API, upload/replace and the static image host.

It follows Flickr's documented protocol closely enough that the real connector
cannot tell the difference: every call is HMAC-SHA1 verified (401 text/plain
``oauth_problem=...`` otherwise), answers use Flickr's JSON/XML mapping and its
error envelope, permissions are enforced, free accounts get no originals, and
faults (429, 5xx, code 201, slow and truncated bodies) come from a ``FaultPlan``.

Run it by hand::

    python -m photosync.emulators.flickr --port 8765 --seed-photos 200

The package, by concept (imports point down this list, never up): ``media``
(generated photos and videos, format sniffing), ``state`` (the account: photos,
albums, tokens), ``oauth`` (OAuth 1.0a checking and the token dance), ``methods``
(the flickr.* methods and uploads), ``handler`` (HTTP: routing, faults, encoding,
the static host), ``server`` (``FlickrEmulator`` and the command). What tests
import from ``photosync.emulators.flickr`` is re-exported here.
"""

from __future__ import annotations

from photosync.emulators.flickr.handler import (
    FlickrHandler,
    parse_multipart,
    render,
)
from photosync.emulators.flickr.media import (
    make_jpeg,
    make_mp4,
)
from photosync.emulators.flickr.methods import (
    FREE_MAX_ITEMS,
    FREE_MAX_NON_PUBLIC,
    FlickrError,
)
from photosync.emulators.flickr.oauth import (
    TIMESTAMP_WINDOW_S,
    OAuthProblem,
    hmac_sha1,
    signature_base,
)
from photosync.emulators.flickr.server import (
    FlickrEmulator,
    main,
)
from photosync.emulators.flickr.state import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_NSID,
    FIRST_SEEDED_ID,
    PERM_RANK,
    EmuPhoto,
    EmuPhotoset,
    EmuTicket,
    EmuToken,
    FlickrState,
    clean_tag,
    parse_tag_string,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_NSID",
    "FIRST_SEEDED_ID",
    "FREE_MAX_ITEMS",
    "FREE_MAX_NON_PUBLIC",
    "PERM_RANK",
    "TIMESTAMP_WINDOW_S",
    "EmuPhoto",
    "EmuPhotoset",
    "EmuTicket",
    "EmuToken",
    "FlickrEmulator",
    "FlickrError",
    "FlickrHandler",
    "FlickrState",
    "OAuthProblem",
    "clean_tag",
    "hmac_sha1",
    "main",
    "make_jpeg",
    "make_mp4",
    "parse_multipart",
    "parse_tag_string",
    "render",
    "signature_base",
]
