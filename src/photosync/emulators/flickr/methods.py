"""The flickr.* methods the emulator answers, and uploads/replacements: Flickr's
rules on a ``FlickrState``, with no HTTP in sight.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from photosync.emulators.flickr.state import (
    MACHINE_TAG,
    PERM_RANK,
    EmuPhoto,
    EmuPhotoset,
    EmuTicket,
    EmuToken,
    FlickrState,
    clean_tag,
    parse_tag_string,
)

FREE_MAX_ITEMS = 1000
FREE_MAX_NON_PUBLIC = 50


class FlickrError(Exception):
    """A Flickr error envelope (HTTP 200, stat=fail)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Call:
    state: FlickrState
    args: dict[str, str]
    token: EmuToken | None
    base: str
    extras: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.extras = {e.strip() for e in self.args.get("extras", "").split(",") if e.strip()}

    @property
    def is_owner(self) -> bool:
        return self.token is not None

    def require(
        self, *names: str, code: int = 1, message: str = "Required arguments missing"
    ) -> None:
        for name in names:
            if not self.args.get(name):
                raise FlickrError(code, message)

    def photo(self, code: int = 1) -> EmuPhoto:
        photo = self.state.photos.get(self.args.get("photo_id", ""))
        if photo is None or not self.can_see(photo):
            raise FlickrError(code, "Photo not found")
        return photo

    def can_see(self, photo: EmuPhoto) -> bool:
        return self.is_owner or bool(photo.is_public)

    def int_arg(self, name: str, default: int) -> int:
        try:
            return int(self.args.get(name) or default)
        except ValueError:
            return default

    def user_id(self) -> str:
        user = self.args.get("user_id", "me")
        if user == "me":
            if not self.is_owner:
                raise FlickrError(2, "Unknown user")
            return self.state.nsid
        if user != self.state.nsid:
            raise FlickrError(2, "Unknown user")
        return user

    def static_url(self, photo: EmuPhoto) -> str:
        ext = "jpg" if photo.media == "video" else photo.originalformat
        return f"{self.base}/{photo.server}/{photo.id}_{photo.originalsecret}_o.{ext}"

    def listing(self, photo: EmuPhoto) -> dict[str, Any]:
        """A photo element as listings return it, with the requested extras."""
        state, extras = self.state, self.extras
        out: dict[str, Any] = {
            "id": photo.id,
            "owner": state.nsid,
            "secret": photo.secret,
            "server": photo.server,
            "farm": 66,
            "title": photo.title,
            "ispublic": photo.is_public,
            "isfriend": photo.is_friend,
            "isfamily": photo.is_family,
        }
        if "description" in extras:
            out["description"] = {"_content": photo.description}
        if "license" in extras:
            out["license"] = photo.license
        if "date_upload" in extras:
            out["dateupload"] = str(photo.dateupload)
        if "date_taken" in extras:
            out["datetaken"] = photo.datetaken
            out["datetakengranularity"] = photo.granularity
            out["datetakenunknown"] = "1" if photo.taken_unknown else "0"
        if "last_update" in extras:
            out["lastupdate"] = str(photo.lastupdate)
        if "original_format" in extras and state.pro:
            out["originalsecret"] = photo.originalsecret
            out["originalformat"] = photo.originalformat
        if "o_dims" in extras and state.pro:
            out["o_width"] = str(photo.width)
            out["o_height"] = str(photo.height)
        if "geo" in extras:
            if photo.latitude is not None and photo.longitude is not None:
                out["latitude"] = f"{photo.latitude:.6f}"
                out["longitude"] = f"{photo.longitude:.6f}"
                out["accuracy"] = str(photo.accuracy)
            else:
                out["latitude"], out["longitude"], out["accuracy"] = 0, 0, 0
            out["context"] = 0
        if "tags" in extras:
            out["tags"] = " ".join(clean_tag(t) for t in photo.tags if not MACHINE_TAG.match(t))
        if "machine_tags" in extras:
            out["machine_tags"] = " ".join(clean_tag(t) for t in photo.tags if MACHINE_TAG.match(t))
        if "media" in extras:
            out["media"] = photo.media
            out["media_status"] = "ready"
        if "path_alias" in extras:
            out["pathalias"] = None
        if "url_o" in extras and state.pro:
            out["url_o"] = self.static_url(photo)
            out["height_o"] = photo.height
            out["width_o"] = photo.width
        return out

    def page_of(
        self, photos: list[EmuPhoto], root: str = "photos", *, lying: bool = False
    ) -> dict[str, Any]:
        per_page = self.int_arg("per_page", 100)
        per_page = 100 if per_page < 1 else min(per_page, 500)
        page = max(1, self.int_arg("page", 1))
        total = len(photos)
        pages = max(1, -(-total // per_page)) if total else 0
        chunk = (
            [] if page > self.state.max_page else photos[(page - 1) * per_page : page * per_page]
        )
        if lying and self.state.lying_drop_every:
            chunk = [p for i, p in enumerate(chunk) if i % self.state.lying_drop_every != 0]
        return {
            root: {
                "page": page,
                "pages": pages,
                "perpage": per_page,
                "total": str(total),
                "photo": [self.listing(p) for p in chunk],
            }
        }


def _privacy_match(photo: EmuPhoto, privacy_filter: int) -> bool:
    triple = photo.privacy
    return {
        1: triple[0] == 1,
        2: triple == (0, 1, 0),
        3: triple == (0, 0, 1),
        4: triple == (0, 1, 1),
        5: triple == (0, 0, 0),
    }.get(privacy_filter, True)


def _sorted_posted(photos: list[EmuPhoto]) -> list[EmuPhoto]:
    return sorted(photos, key=lambda p: (p.dateupload, int(p.id)), reverse=True)


def m_test_login(call: Call) -> dict[str, Any]:
    return {"user": {"id": call.state.nsid, "username": {"_content": call.state.username}}}


def m_check_token(call: Call) -> dict[str, Any]:
    if call.token is None:
        raise FlickrError(98, "Invalid auth token")
    token = call.state.tokens.get(call.args.get("oauth_token") or call.token.token)
    if token is None or token.kind != "access" or token.token != call.token.token:
        raise FlickrError(98, "Invalid auth token")
    return {
        "oauth": {
            "token": {"_content": token.token},
            "perms": {"_content": token.perms or "none"},
            "user": {
                "nsid": call.state.nsid,
                "username": call.state.username,
                "fullname": call.state.fullname,
            },
        }
    }


def _date_filter(call: Call, photos: list[EmuPhoto]) -> list[EmuPhoto]:
    low = call.args.get("min_upload_date")
    high = call.args.get("max_upload_date")
    try:
        if low:
            photos = [p for p in photos if p.dateupload >= int(low)]
        if high:
            photos = [p for p in photos if p.dateupload <= int(high)]
    except ValueError:
        raise FlickrError(3, "Invalid upload date") from None
    return photos


def m_get_photos(call: Call) -> dict[str, Any]:
    call.require("user_id")
    call.user_id()
    photos = [p for p in call.state.photos.values() if call.can_see(p)]
    photos = _date_filter(call, photos)
    privacy_filter = call.int_arg("privacy_filter", 0)
    if privacy_filter:
        photos = [p for p in photos if _privacy_match(p, privacy_filter)]
    return call.page_of(_sorted_posted(photos), lying=True)


def m_recently_updated(call: Call) -> dict[str, Any]:
    call.require("min_date", message="Required argument missing.")
    try:
        since = int(call.args["min_date"])
    except ValueError:
        raise FlickrError(2, "Not a valid date") from None
    photos = [p for p in call.state.photos.values() if p.lastupdate >= since]
    photos.sort(key=lambda p: (p.lastupdate, int(p.id)), reverse=True)
    return call.page_of(photos)


def m_search(call: Call) -> dict[str, Any]:
    criteria = ("user_id", "tags", "machine_tags", "text", "min_upload_date", "max_upload_date")
    if not any(call.args.get(name) for name in criteria):
        raise FlickrError(
            3,
            "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead.",
        )
    now = call.state.clock()
    photos = [p for p in call.state.photos.values() if call.can_see(p) and p.indexed_at <= now]
    if call.args.get("user_id"):
        call.user_id()
    photos = _date_filter(call, photos)
    if call.args.get("machine_tags"):
        wanted = [t.strip().lower() for t in call.args["machine_tags"].split(",") if t.strip()]
        if not all(MACHINE_TAG.match(t) for t in wanted):
            raise FlickrError(11, "No valid machine tags")
        mode_all = call.args.get("machine_tag_mode") == "all"
        test = all if mode_all else any
        photos = [p for p in photos if test(w in {t.lower() for t in p.tags} for w in wanted)]
    if call.args.get("tags"):
        wanted = [clean_tag(t) for t in call.args["tags"].split(",") if t.strip()]
        mode_all = call.args.get("tag_mode") == "all"
        test = all if mode_all else any
        photos = [p for p in photos if test(w in {clean_tag(t) for t in p.tags} for w in wanted)]
    if call.args.get("text"):
        needle = call.args["text"].lower()
        photos = [
            p for p in photos if needle in f"{p.title} {p.description} {' '.join(p.tags)}".lower()
        ]
    privacy_filter = call.int_arg("privacy_filter", 0)
    if privacy_filter:
        photos = [p for p in photos if _privacy_match(p, privacy_filter)]
    return call.page_of(_sorted_posted(photos))


def m_get_info(call: Call) -> dict[str, Any]:
    photo = call.photo()
    state = call.state
    info: dict[str, Any] = {
        "id": photo.id,
        "secret": photo.secret,
        "server": photo.server,
        "farm": 66,
        "dateuploaded": str(photo.dateupload),
        "isfavorite": 0,
        "license": photo.license,
        "safety_level": "0",
        "rotation": 0,
    }
    if state.pro:
        info["originalsecret"] = photo.originalsecret
        info["originalformat"] = photo.originalformat
    info.update(
        {
            "owner": {"nsid": state.nsid, "username": state.username, "realname": state.fullname},
            "title": {"_content": photo.title},
            "description": {"_content": photo.description},
            "visibility": {
                "ispublic": photo.is_public,
                "isfriend": photo.is_friend,
                "isfamily": photo.is_family,
            },
            "dates": {
                "posted": str(photo.dateupload),
                "taken": photo.datetaken,
                "takengranularity": photo.granularity,
                "takenunknown": "1" if photo.taken_unknown else "0",
                "lastupdate": str(photo.lastupdate),
            },
            "permissions": {"permcomment": 3, "permaddmeta": 2},
            "tags": {
                "tag": [
                    {
                        "id": f"{photo.id}-{i}",
                        "author": state.nsid,
                        "authorname": state.username,
                        "raw": raw,
                        "_content": clean_tag(raw),
                        "machine_tag": 1 if MACHINE_TAG.match(raw) else 0,
                    }
                    for i, raw in enumerate(photo.tags)
                ]
            },
            "urls": {
                "url": [
                    {
                        "type": "photopage",
                        "_content": f"https://www.flickr.com/photos/{state.nsid}/{photo.id}/",
                    }
                ]
            },
            "media": photo.media,
        }
    )
    if photo.latitude is not None and photo.longitude is not None:
        info["location"] = {
            "latitude": f"{photo.latitude:.6f}",
            "longitude": f"{photo.longitude:.6f}",
            "accuracy": str(photo.accuracy),
        }
    return {"photo": info}


def m_get_sizes(call: Call) -> dict[str, Any]:
    photo = call.photo()
    state = call.state
    base = f"{call.base}/{photo.server}/{photo.id}_{photo.secret}"
    sizes: list[dict[str, Any]] = [
        {
            "label": "Square",
            "width": 75,
            "height": 75,
            "source": f"{base}_s.jpg",
            "media": photo.media,
        },
        {
            "label": "Large",
            "width": 1024,
            "height": 683,
            "source": f"{base}_b.jpg",
            "media": photo.media,
        },
    ]
    if photo.media == "video":
        sizes = [{**s, "media": "video"} for s in sizes]
    if state.pro and call.is_owner:
        sizes.append(
            {
                "label": "Original",
                "width": photo.width,
                "height": photo.height,
                "source": call.static_url(photo),
                "media": photo.media,
            }
        )
        if photo.media == "video":
            sizes.append(
                {
                    "label": "Video Original",
                    "width": photo.width,
                    "height": photo.height,
                    "source": f"{call.base}/photos/{state.nsid}/{photo.id}/play/orig/"
                    f"{photo.originalsecret}/",
                    "media": "video",
                }
            )
    return {
        "sizes": {"canblog": 0, "canprint": 0, "candownload": 1 if state.pro else 0, "size": sizes}
    }


def m_get_exif(call: Call) -> dict[str, Any]:
    photo = call.photo()
    if photo.exif_hidden and not call.is_owner:
        raise FlickrError(2, "Permission denied")
    exif = []
    if photo.camera_make:
        exif.append(
            {
                "tagspace": "IFD0",
                "tagspaceid": 0,
                "tag": "Make",
                "label": "Make",
                "raw": {"_content": photo.camera_make},
            }
        )
    if photo.camera_model:
        exif.append(
            {
                "tagspace": "IFD0",
                "tagspaceid": 0,
                "tag": "Model",
                "label": "Model",
                "raw": {"_content": photo.camera_model},
            }
        )
    if not photo.taken_unknown:
        exif.append(
            {
                "tagspace": "ExifIFD",
                "tagspaceid": 0,
                "tag": "DateTimeOriginal",
                "label": "Date and Time (Original)",
                "raw": {"_content": photo.datetaken.replace("-", ":")},
            }
        )
    return {
        "photo": {
            "id": photo.id,
            "secret": photo.secret,
            "server": photo.server,
            "farm": 66,
            "camera": f"{photo.camera_make or ''} {photo.camera_model or ''}".strip(),
            "exif": exif,
        }
    }


def _bump(call: Call, photo: EmuPhoto) -> None:
    photo.lastupdate = max(call.state.now(), photo.lastupdate + 1)


def m_set_perms(call: Call) -> dict[str, Any]:
    photo = call.photo()
    call.require("is_public", "is_friend", "is_family", code=2)
    values = []
    for name in ("is_public", "is_friend", "is_family"):
        if call.args[name] not in ("0", "1"):
            raise FlickrError(2, "Required arguments missing")
        values.append(int(call.args[name]))
    state = call.state
    if (
        not state.pro
        and values[0] == 0
        and photo.is_public
        and state.non_public_count() >= FREE_MAX_NON_PUBLIC
    ):
        raise FlickrError(2, "Free accounts may hold at most 50 non-public items")
    if not state.privacy_ignored:
        photo.is_public, photo.is_friend, photo.is_family = values
    _bump(call, photo)
    return {
        "photoid": {
            "_content": photo.id,
            "secret": photo.secret,
            "originalsecret": photo.originalsecret,
        }
    }


def m_set_meta(call: Call) -> dict[str, Any]:
    photo = call.photo()
    if "title" not in call.args and "description" not in call.args:
        raise FlickrError(2, "At least one of title or description must be set")
    if "title" in call.args:
        photo.title = call.args["title"]
    if "description" in call.args:
        photo.description = call.args["description"]
    _bump(call, photo)
    return {}


def m_set_tags(call: Call) -> dict[str, Any]:
    photo = call.photo()
    if "tags" not in call.args:
        raise FlickrError(1, "Photo not found")
    tags = parse_tag_string(call.args["tags"])
    if len(tags) > 75:
        raise FlickrError(2, "Maximum number of tags reached")
    photo.tags = tags
    _bump(call, photo)
    return {}


def m_set_dates(call: Call) -> dict[str, Any]:
    photo = call.photo()
    if not call.args.get("date_taken") and not call.args.get("date_posted"):
        raise FlickrError(2, "Not enough arguments")
    granularity = call.args.get("date_taken_granularity")
    if granularity is not None and granularity not in ("0", "4", "6", "8"):
        raise FlickrError(3, "Invalid granularity")
    if call.args.get("date_posted"):
        try:
            photo.dateupload = int(call.args["date_posted"])
        except ValueError:
            raise FlickrError(4, "Invalid date_posted") from None
    if call.args.get("date_taken"):
        taken = call.args["date_taken"]
        try:
            datetime.strptime(taken, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise FlickrError(5, "Invalid Date Taken Format") from None
        photo.datetaken = taken
        photo.taken_unknown = False
    if granularity is not None:
        photo.granularity = int(granularity)
    _bump(call, photo)
    return {}


def m_set_location(call: Call) -> dict[str, Any]:
    photo = call.photo()
    call.require("lat", "lon", code=2, message="Required arguments missing.")
    try:
        lat = float(call.args["lat"])
    except ValueError:
        raise FlickrError(3, "Not a valid latitude.") from None
    try:
        lon = float(call.args["lon"])
    except ValueError:
        raise FlickrError(4, "Not a valid longitude.") from None
    if not -90 <= lat <= 90:
        raise FlickrError(3, "Not a valid latitude.")
    if not -180 <= lon <= 180:
        raise FlickrError(4, "Not a valid longitude.")
    accuracy = call.int_arg("accuracy", 16)
    if not 1 <= accuracy <= 16:
        raise FlickrError(5, "Not a valid accuracy.")
    photo.latitude, photo.longitude, photo.accuracy = round(lat, 6), round(lon, 6), accuracy
    _bump(call, photo)
    return {}


def _photoset_json(photoset: EmuPhotoset, state: FlickrState) -> dict[str, Any]:
    videos = sum(
        1
        for pid in photoset.photos
        if state.photos.get(pid, None) and state.photos[pid].media == "video"
    )
    return {
        "id": photoset.id,
        "primary": photoset.primary,
        "secret": "0",
        "server": "0",
        "farm": 0,
        "photos": len(photoset.photos) - videos,
        "videos": videos,
        "title": {"_content": photoset.title},
        "description": {"_content": photoset.description},
        "date_create": str(photoset.created),
        "date_update": str(photoset.updated),
    }


def m_photosets_get_list(call: Call) -> dict[str, Any]:
    if call.args.get("user_id"):
        call.user_id()
    elif not call.is_owner:
        raise FlickrError(1, "User not found")
    sets = sorted(call.state.photosets.values(), key=lambda s: s.created, reverse=True)
    return {
        "photosets": {
            "page": 1,
            "pages": 1,
            "perpage": len(sets),
            "total": len(sets),
            "cancreate": 1,
            "photoset": [_photoset_json(s, call.state) for s in sets],
        }
    }


def m_photosets_get_photos(call: Call) -> dict[str, Any]:
    photoset = call.state.photosets.get(call.args.get("photoset_id", ""))
    if photoset is None:
        raise FlickrError(1, "Photoset not found")
    photos = [call.state.photos[pid] for pid in photoset.photos if pid in call.state.photos]
    photos = [p for p in photos if call.can_see(p)]
    page = call.page_of(photos, "photoset")["photoset"]
    for item in page["photo"]:
        item["isprimary"] = "1" if item["id"] == photoset.primary else "0"
    page.update(
        {
            "id": photoset.id,
            "primary": photoset.primary,
            "owner": call.state.nsid,
            "ownername": call.state.username,
            "title": photoset.title,
        }
    )
    return {"photoset": page}


def m_photosets_create(call: Call) -> dict[str, Any]:
    call.require("title", code=1, message="No title specified")
    primary = call.state.photos.get(call.args.get("primary_photo_id", ""))
    if primary is None:
        raise FlickrError(2, "Photo not found")
    now = call.state.now()
    photoset = EmuPhotoset(
        call.state._new_id(),
        call.args["title"],
        call.args.get("description", ""),
        primary.id,
        [primary.id],
        now,
        now,
    )
    call.state.photosets[photoset.id] = photoset
    return {
        "photoset": {
            "id": photoset.id,
            "url": f"https://www.flickr.com/photos/{call.state.nsid}/sets/{photoset.id}/",
        }
    }


def m_photosets_add_photo(call: Call) -> dict[str, Any]:
    photoset = call.state.photosets.get(call.args.get("photoset_id", ""))
    if photoset is None:
        raise FlickrError(1, "Photoset not found")
    photo_id = call.args.get("photo_id", "")
    if photo_id not in call.state.photos:
        raise FlickrError(2, "Photo not found")
    if photo_id in photoset.photos:
        raise FlickrError(3, "Photo already in set")
    photoset.photos.append(photo_id)
    photoset.updated = call.state.now()
    return {}


def m_people_get_info(call: Call) -> dict[str, Any]:
    call.require("user_id")
    if call.args["user_id"] not in (call.state.nsid, "me"):
        raise FlickrError(1, "User not found")
    state = call.state
    return {
        "person": {
            "id": state.nsid,
            "nsid": state.nsid,
            "ispro": 1 if state.pro else 0,
            "username": {"_content": state.username},
            "realname": {"_content": state.fullname},
            "photos": {"count": {"_content": len(state.photos)}},
        }
    }


def m_upload_status(call: Call) -> dict[str, Any]:
    state = call.state
    limit = "lots" if state.pro else str(max(0, FREE_MAX_ITEMS - len(state.photos)))
    return {
        "user": {
            "id": state.nsid,
            "ispro": 1 if state.pro else 0,
            "username": {"_content": state.username},
            "filesize": {"maxbytes": "1073741824", "maxkb": "1048576"},
            "videosize": {"maxbytes": "1073741824", "maxkb": "1048576"},
            "sets": {"created": len(state.photosets), "remaining": "lots"},
            "videos": {
                "uploaded": sum(1 for p in state.photos.values() if p.media == "video"),
                "remaining": limit,
            },
        }
    }


def m_check_tickets(call: Call) -> dict[str, Any]:
    call.require("tickets")
    out = []
    for ticket_id in call.args["tickets"].split(","):
        ticket = call.state.tickets.get(ticket_id.strip())
        if ticket is None:
            out.append({"id": ticket_id.strip(), "invalid": 1})
        elif ticket.failed:
            out.append({"id": ticket.id, "complete": 2})
        elif ticket.polls_left > 0:
            ticket.polls_left -= 1
            out.append({"id": ticket.id, "complete": 0})
        else:
            out.append({"id": ticket.id, "complete": 1, "photoid": ticket.photo_id})
    return {"uploader": {"ticket": out}}


_READ, _WRITE = PERM_RANK["read"], PERM_RANK["write"]
METHODS: dict[str, tuple[Callable[[Call], dict[str, Any]], int]] = {
    "flickr.test.login": (m_test_login, _READ),
    "flickr.auth.oauth.checkToken": (m_check_token, 0),
    "flickr.people.getPhotos": (m_get_photos, 0),
    "flickr.people.getInfo": (m_people_get_info, 0),
    "flickr.people.getUploadStatus": (m_upload_status, _READ),
    "flickr.photos.recentlyUpdated": (m_recently_updated, _READ),
    "flickr.photos.search": (m_search, 0),
    "flickr.photos.getInfo": (m_get_info, 0),
    "flickr.photos.getSizes": (m_get_sizes, 0),
    "flickr.photos.getExif": (m_get_exif, 0),
    "flickr.photos.setPerms": (m_set_perms, _WRITE),
    "flickr.photos.setMeta": (m_set_meta, _WRITE),
    "flickr.photos.setTags": (m_set_tags, _WRITE),
    "flickr.photos.setDates": (m_set_dates, _WRITE),
    "flickr.photos.geo.setLocation": (m_set_location, _WRITE),
    "flickr.photosets.getList": (m_photosets_get_list, 0),
    "flickr.photosets.getPhotos": (m_photosets_get_photos, 0),
    "flickr.photosets.create": (m_photosets_create, _WRITE),
    "flickr.photosets.addPhoto": (m_photosets_add_photo, _WRITE),
    "flickr.photos.upload.checkTickets": (m_check_tickets, 0),
}


def dispatch(
    state: FlickrState,
    method: str,
    args: dict[str, str],
    token: EmuToken | None,
    verb: str,
    base: str,
) -> dict[str, Any]:
    """One flickr.* call as Flickr answers it: unknown methods, permissions, POST for
    writes, and a method's error as Flickr's envelope (``stat: fail``)."""
    spec = METHODS.get(method)
    if spec is None:
        return {"stat": "fail", "code": 112, "message": f'Method "{method}" not found'}
    function, needed = spec
    granted = PERM_RANK.get(token.perms or "none", 0) if token else 0
    if granted < needed:
        message = "User not logged in / Insufficient permissions"
        return {"stat": "fail", "code": 99, "message": message}
    if needed >= PERM_RANK["write"] and verb != "POST":
        return {"stat": "fail", "code": 99, "message": "Write methods must be called with POST"}
    try:
        with state.lock:
            payload = function(Call(state, args, token, base))
    except FlickrError as error:
        return {"stat": "fail", "code": error.code, "message": error.message}
    return {**payload, "stat": "ok"}


# -- uploads and replacements


def do_upload(
    state: FlickrState, fields: dict[str, str], filename: str, data: bytes
) -> str | FlickrError:
    """A new photo as Flickr stores an upload (free-account limits, privacy flags, async
    tickets); the ``<photoid>``/``<ticketid>`` XML, or the error to answer."""
    privacy = list(state.default_privacy)
    for position, name in enumerate(("is_public", "is_friend", "is_family")):
        if name in fields and not state.privacy_ignored:
            if fields[name] not in ("0", "1"):
                return FlickrError(3, f"General upload failure: bad {name}")
            privacy[position] = int(fields[name])
    if not state.pro:
        if len(state.photos) >= FREE_MAX_ITEMS:
            return FlickrError(6, "User exceeded upload limit (free accounts hold 1,000 items)")
        if privacy[0] == 0 and state.non_public_count() >= FREE_MAX_NON_PUBLIC:
            return FlickrError(
                6, "User exceeded upload limit (free accounts hold 50 non-public items)"
            )
    title = fields.get("title")
    if title is None:
        title = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    photo = state.add_photo(
        data,
        title=title,
        description=fields.get("description", ""),
        tags=parse_tag_string(fields.get("tags", "")),
        is_public=privacy[0],
        is_friend=privacy[1],
        is_family=privacy[2],
    )
    state.requests_log.append(
        {
            "kind": "upload",
            "photo_id": photo.id,
            **{k: v for k, v in fields.items() if not k.startswith("oauth_")},
        }
    )
    if fields.get("async") == "1":
        ticket = EmuTicket(state._new_id(), photo.id, state.ticket_polls)
        state.tickets[ticket.id] = ticket
        return f"<ticketid>{ticket.id}</ticketid>"
    return f"<photoid>{photo.id}</photoid>"


def do_replace(
    state: FlickrState, fields: dict[str, str], data: bytes, sniffed: tuple[str, str]
) -> str | FlickrError:
    """New bytes for an existing photo (Pro only): new secrets, a later ``lastupdate``."""
    if not state.pro:
        return FlickrError(7, "Replace is only available to Pro accounts")
    photo = state.photos.get(fields.get("photo_id", ""))
    if photo is None:
        return FlickrError(1, "Photo not found")
    photo.data = data
    photo.media, photo.originalformat = sniffed
    photo.secret = secrets.token_hex(5)
    photo.originalsecret = secrets.token_hex(5)
    photo.lastupdate = max(state.now(), photo.lastupdate + 1)
    if fields.get("async") == "1":
        ticket = EmuTicket(state._new_id(), photo.id, state.ticket_polls)
        state.tickets[ticket.id] = ticket
        return f"<ticketid>{ticket.id}</ticketid>"
    return (
        f'<photoid secret="{photo.secret}" originalsecret="{photo.originalsecret}">'
        f"{photo.id}</photoid>"
    )
