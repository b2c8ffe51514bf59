"""Media downloads through an item's expiring baseUrl (``/media/{token}=d``), with
the location stripped as Google does.
"""

from __future__ import annotations

import io

from photosync.emulators.google.plumbing import HandlerBase, Reply, google_error
from photosync.emulators.google.state import LIBRARY_READ, SCOPE_PICKER


def strip_location(data: bytes) -> bytes:
    """What Google hands out for ``=d``: EXIF kept except GPS, re-encoded when decodable."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            exif = image.getexif()
            exif.pop(0x8825, None)  # GPS IFD
            out = io.BytesIO()
            if image.format == "JPEG":
                image.save(out, format="JPEG", quality=85, exif=exif.tobytes())
            else:
                image.convert("RGB").save(out, format="JPEG", quality=85, exif=exif.tobytes())
            return out.getvalue()
    except Exception:
        return data


class DownloadRoutes(HandlerBase):
    """``/media/{token}=d`` and ``=dv``."""

    def _download(self, rest: str) -> None:
        token, _, options = rest.partition("=")
        self._bearer(LIBRARY_READ | {SCOPE_PICKER})
        state = self.state
        with state.lock:
            entry = state.media_tokens.get(token)
            if entry is None:
                raise google_error(404, "NOT_FOUND", "unknown baseUrl")
            if entry["expires"] <= state.now():
                state.stats["expired_base_url_rejections"] += 1
                raise google_error(403, "PERMISSION_DENIED", "baseUrl has expired")
            item = state.items.get(entry["item"]) or state.picker_library.get(entry["item"])
            state.stats["downloads"] += 1
        if item is None:
            raise google_error(404, "NOT_FOUND", "media item is gone")
        video = item.mime_type.startswith("video/")
        if options not in ("d", "dv") and not options.startswith("w"):
            raise google_error(400, "INVALID_ARGUMENT", f"unsupported baseUrl option {options!r}")
        if video and options != "dv":
            raise google_error(400, "INVALID_ARGUMENT", "videos download with =dv")
        data = item.data if video else strip_location(item.data)
        mime = item.mime_type if video or data is item.data else "image/jpeg"
        raise Reply(200, data, headers={"Content-Type": mime})
