"""Writes a synthetic Flickr "Download your data" export, shaped like the real one.

One metadata zip (``photo_<id>.json`` per photo plus ``albums.json``) and
``data-download-N.zip`` media parts whose names end in ``_<photoid>_o.<ext>``.
Geo is written as micro-degree strings, alternately as an object and a list,
because real exports do both.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from photosync.emulators.flickr import make_jpeg, make_mp4

PRIVACY_CYCLE = ("public", "friends & family", "private", "friends", "family")


@dataclass
class ExportedPhoto:
    id: str
    title: str
    sha256: str
    size: int
    privacy: str
    taken: str
    lat: float | None
    lng: float | None
    tags: list[str]
    albums: list[str]
    member: str
    video: bool


def write_export(
    directory: Path,
    count: int,
    *,
    parts: int = 2,
    first_id: int = 60_000_000_000,
    video_every: int = 10,
    nsid: str = "12345678N00",
) -> list[ExportedPhoto]:
    """Write an export of ``count`` items into ``directory``; returns what it holds."""
    directory.mkdir(parents=True, exist_ok=True)
    photos: list[ExportedPhoto] = []
    meta_path = directory / f"{nsid}_3f9c2a_part1.zip"
    media_zips = [
        zipfile.ZipFile(directory / f"data-download-{n + 1}.zip", "w", zipfile.ZIP_STORED)
        for n in range(max(1, parts))
    ]
    album_members: dict[str, list[str]] = {"72157600000000001": [], "72157600000000002": []}
    try:
        with zipfile.ZipFile(meta_path, "w", zipfile.ZIP_DEFLATED) as meta:
            for index in range(count):
                photo_id = str(first_id + index)
                video = video_every > 0 and index % video_every == video_every - 1
                taken_unix = 1_400_000_000 + index * 86_400
                taken = datetime.fromtimestamp(taken_unix, UTC).strftime("%Y-%m-%d %H:%M:%S")
                data = (
                    make_mp4(index + 900_000, taken_unix)
                    if video
                    else make_jpeg(index + 900_000, taken)
                )
                ext = "mp4" if video else "jpg"
                title = f"IMG_{1000 + index}"
                member = f"img_{1000 + index}_{photo_id}_o.{ext}"
                media_zips[index % len(media_zips)].writestr(member, data)
                privacy = PRIVACY_CYCLE[index % len(PRIVACY_CYCLE)]
                lat = round(49.696401 + index / 1000, 6) if index % 2 == 0 else None
                lng = round(-0.5 + index / 1000, 6) if index % 2 == 0 else None
                albums = [name for n, name in enumerate(album_members) if index % (n + 2) == 0]
                for name in albums:
                    album_members[name].append(photo_id)
                geo: object
                if lat is None or lng is None:
                    geo = []
                else:
                    point = {
                        "latitude": str(round(lat * 1_000_000)),
                        "longitude": str(round(lng * 1_000_000)),
                        "accuracy": "16",
                    }
                    geo = point if index % 4 == 0 else [point]
                tags = ["holiday", f"day{index % 3}"]
                record = {
                    "id": photo_id,
                    "name": title,
                    "description": f"Exported photo {index}",
                    "count_views": "0",
                    "date_taken": taken,
                    "date_imported": datetime.fromtimestamp(taken_unix + 7200, UTC).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                    "photopage": f"https://www.flickr.com/photos/{nsid}/{photo_id}/",
                    "original": f"https://live.staticflickr.com/65535/{photo_id}_abcdef1234_o.{ext}",
                    "license": "All Rights Reserved",
                    "geo": geo,
                    "exif": {},
                    "albums": [{"id": a, "title": f"Album {a[-1]}"} for a in albums],
                    "tags": [{"tag": t, "user": nsid, "date_create": "1400000000"} for t in tags],
                    "people": [],
                    "privacy": privacy,
                    "comments": [],
                }
                meta.writestr(f"photo_{photo_id}.json", json.dumps(record, indent=1))
                photos.append(
                    ExportedPhoto(
                        id=photo_id,
                        title=title,
                        sha256=hashlib.sha256(data).hexdigest(),
                        size=len(data),
                        privacy=privacy,
                        taken=taken.replace(" ", "T"),
                        lat=lat,
                        lng=lng,
                        tags=tags,
                        albums=albums,
                        member=member,
                        video=video,
                    )
                )
            meta.writestr(
                "albums.json",
                json.dumps(
                    {
                        "albums": [
                            {
                                "id": album_id,
                                "title": f"Album {album_id[-1]}",
                                "description": "",
                                "created": "1400000000",
                                "last_updated": "1400000000",
                                "cover_photo": "",
                                "photos": ids,
                            }
                            for album_id, ids in album_members.items()
                        ]
                    }
                ),
            )
    finally:
        for archive in media_zips:
            archive.close()
    return photos
