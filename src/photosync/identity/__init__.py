"""Cross-service photo identity: is this copy the same photo as that one?

Public API (everything else is internal):

Fingerprints (``phash``)
    ``compute_fingerprint(path) -> Fingerprint | None``  - None for tiny/flat/undecodable images
    ``fingerprint_file(path) -> FingerprintResult``     - the same, with ``reason``, ``width``, ``height``
    ``fingerprint_image(pil_image) -> FingerprintResult``
    ``Fingerprint(phash, width, height, thumb)``; ``.to_dict()`` is the JSON for the record's
    ``media.phash`` field, ``Fingerprint.from_dict(d)`` reads it back (``FingerprintError`` if malformed).
    ``FingerprintError`` (a ``PhotosyncError``): file unreadable or stored value malformed.

Index (``index``)
    ``HashIndex(chunks=3)``: ``add(key, hash)``, ``query(hash, max_distance) -> [(key, distance)]``,
    ``pairs(max_distance) -> iterator of (key_a, key_b, distance)`` (all pairs, vectorised).

Classification (``classify``)
    ``Candidate(key, fingerprint, content_hash, width, height, taken_date, subsec, camera_make,
    camera_model, size_bytes, format, filename)`` - one copy on one service.  ``taken_date``
    must be a capture date (EXIF/XMP/QuickTime), never a file modification time.
    ``classify_pair(a, b) -> Match(kind, distance, reasons, keep)``
    ``find_matches(candidates) -> list[MatchGroup(kind, keys, keep, pairs)]``
    ``MatchKind``: ``exact`` and ``quality_variant`` are ``.automatic`` (merge, keep ``keep``);
    ``edit_variant`` needs a human; ``different`` is never merged.
    ``best_copy(candidates)`` / ``quality_key(candidate)``: the keep-the-best rule on its own.
"""

from photosync.identity.classify import (
    Candidate,
    Match,
    MatchGroup,
    MatchKind,
    best_copy,
    classify_pair,
    find_matches,
    quality_key,
)
from photosync.identity.index import HashIndex
from photosync.identity.phash import (
    Fingerprint,
    FingerprintError,
    FingerprintResult,
    compute_fingerprint,
    fingerprint_file,
    fingerprint_image,
    hamming,
)

__all__ = [
    "Candidate",
    "Fingerprint",
    "FingerprintError",
    "FingerprintResult",
    "HashIndex",
    "Match",
    "MatchGroup",
    "MatchKind",
    "best_copy",
    "classify_pair",
    "compute_fingerprint",
    "find_matches",
    "fingerprint_file",
    "fingerprint_image",
    "hamming",
    "quality_key",
]
