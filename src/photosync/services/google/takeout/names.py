"""Takeout's names: media extensions, localized folder names, and how Google cuts
and numbers a sidecar's name (``.supplemental-metadata``, 46 characters, ``(1)``).

Pure functions of names only, property-tested against the emulator's naming.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: a sidecar name is cut to this many characters before ``.json``
SIDECAR_STEM_LIMIT = 46
#: a truncated sidecar stem is at least this long (shorter ones must match exactly)
MIN_TRUNCATED_STEM = 30
SUPPLEMENTAL = ".supplemental-metadata"

PHOTO_EXTS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".gif",
        ".heic",
        ".heif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".avif",
        ".dng",
        ".cr2",
        ".cr3",
        ".nef",
        ".arw",
        ".orf",
        ".rw2",
        ".raf",
        ".srw",
        ".pef",
        ".raw",
        ".ico",
        ".jxl",
    ]
)
VIDEO_EXTS = frozenset(
    [
        ".mp4",
        ".mov",
        ".m4v",
        ".3gp",
        ".3g2",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".mp",
        ".mv",
    ]
)
_MOTION_SUFFIXES = (".mp", ".mv", ".ls", ".ts")

YEAR_FOLDER = re.compile(
    r"^(?:Photos from|Fotos von|Fotos de|Photos de|Foto dal|Foto del|Zdjęcia z|Фото за|"
    r"Foto's uit|Fotos från|Billeder fra)\s+((?:18|19|20)\d{2})$",
    re.IGNORECASE,
)
ALBUM_METADATA_STEMS = frozenset(
    unicodedata.normalize("NFC", name).casefold()
    for name in (
        "metadata",
        "métadonnées",
        "metadaten",
        "metadati",
        "metadatos",
        "metadane",
        "metadados",
        "metagegevens",
        "metadata (1)",
        "метаданные",
        "metadatové údaje",
        "metaadatok",
        "メタデータ",
        "元数据",
    )
)

#: best-effort localized names of the special folders; sidecar flags count too
SPECIAL_FOLDERS: dict[str, str] = {
    **dict.fromkeys(
        ("archive", "archiv", "archivio", "archivo", "archiwum", "arquivo", "archief", "архив"),
        "archive",
    ),
    **dict.fromkeys(
        (
            "trash",
            "bin",
            "papierkorb",
            "corbeille",
            "cestino",
            "papelera",
            "kosz",
            "lixeira",
            "prullenbak",
            "корзина",
        ),
        "trash",
    ),
    **dict.fromkeys(
        (
            "locked folder",
            "gesperrter ordner",
            "dossier verrouillé",
            "cartella bloccata",
            "carpeta bloqueada",
            "folder zablokowany",
            "zablokowany folder",
            "pasta trancada",
            "vergrendelde map",
        ),
        "locked",
    ),
    **dict.fromkeys(
        (
            "failed videos",
            "fehlgeschlagene videos",
            "vidéos ayant échoué",
            "video non riusciti",
            "vídeos fallidos",
            "nieudane filmy",
        ),
        "failed",
    ),
}
#: suffixes Google appends to the stem of an edited copy, by locale
EDIT_SUFFIXES = tuple(
    unicodedata.normalize("NFC", s)
    for s in (
        "-edited",
        "-modifié",
        "-modifie",
        "-bearbeitet",
        "-modificato",
        "-editado",
        "-edytowane",
        "-bewerkt",
        "-redigerad",
        "-redigeret",
        "-muokattu",
        "-upraveno",
        "-szerkesztett",
        "-изменено",
        "-編集済み",
        "-已编辑",
    )
)
_COUNTER = re.compile(r"^(.*)\((\d+)\)$")
_MEDIA_COUNTER = re.compile(r"^(.*)\((\d+)\)(\.[^.()]*)?$")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext") of a file name; ext is "" when there is none."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1 or " " in name[dot:]:
        return name, ""
    return name[:dot], name[dot:]


def media_kind(name: str) -> str | None:
    ext = split_ext(name)[1].lower()
    if ext in PHOTO_EXTS:
        return "photo"
    if ext in VIDEO_EXTS:
        return "video"
    return None


# ---------------------------------------------------------------------------
# Sidecar name matching (pure functions, property-tested)


def _media_keys(media: str) -> list[tuple[str, int]]:
    """(name without copy counter, counter) readings of a media file name."""
    keys = [(media, 0)]
    found = _MEDIA_COUNTER.match(media)
    if found and found.group(1):
        keys.append((found.group(1) + (found.group(3) or ""), int(found.group(2))))
    return keys


def _sidecar_keys(sidecar: str) -> list[tuple[str, int]]:
    """(stem without counter, counter) readings of a sidecar name."""
    stem = sidecar[: -len(".json")]
    keys = [(stem, 0)]
    found = _COUNTER.match(stem)
    if found and found.group(1):
        keys.append((found.group(1), int(found.group(2))))
    return keys


def _full_forms(base: str) -> list[tuple[str, int]]:
    """Untruncated sidecar stems Google may have written for ``base``, with a rank."""
    stem, ext = split_ext(base)
    forms = [(base + SUPPLEMENTAL, 3), (base, 3)]
    if ext:
        forms += [(stem + SUPPLEMENTAL, 2), (stem, 1)]
    return forms


def sidecar_score(media: str, sidecar: str, title: str | None = None) -> float:
    """How well ``sidecar`` fits ``media`` (0 = not at all).

    Exact name forms beat truncated ones; the sidecar's ``title`` (the name as
    uploaded) breaks ties between media that share a truncated prefix.
    """
    best = 0.0
    for base, counter in _media_keys(media):
        for key, key_counter in _sidecar_keys(sidecar):
            if key_counter != counter:
                continue
            for form, rank in _full_forms(base):
                if key == form:
                    best = max(best, 100.0 + rank * 10)
                elif (
                    len(key) >= MIN_TRUNCATED_STEM
                    and len(form) > len(key)
                    and len(key) <= SIDECAR_STEM_LIMIT + 1
                    and form.startswith(key)
                ):
                    best = max(best, 50.0 + rank * 5 + len(key) / 100.0)
    if best and title:
        if nfc(title) == media:
            best += 30.0
        elif any(nfc(title) == base for base, _ in _media_keys(media)):
            best += 20.0
    if best and media_kind(media) == "photo":
        best += 1.0
    return best


def match_sidecars(
    media: Iterable[str],
    sidecars: Iterable[str],
    titles: dict[str, str] | None = None,
) -> dict[str, str]:
    """Pair media names with sidecar names of one folder, each used at most once."""
    titles = titles or {}
    media_list = sorted(set(media))
    sidecar_list = sorted(set(sidecars))
    pairs: list[tuple[float, str, str]] = []
    for m in media_list:
        for s in sidecar_list:
            score = sidecar_score(m, s, titles.get(s))
            if score > 0:
                pairs.append((score, m, s))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    matched: dict[str, str] = {}
    used: set[str] = set()
    for _, m, s in pairs:
        if m in matched or s in used:
            continue
        matched[m] = s
        used.add(s)
    return matched


def edit_parent_name(name: str, siblings: Iterable[str]) -> tuple[str, str] | None:
    """(original name, suffix) when ``name`` is an edited copy of a sibling."""
    stem, ext = split_ext(name)
    counter = ""
    found = _COUNTER.match(stem)
    if found:
        stem, counter = found.group(1), f"({found.group(2)})"
    folded = stem.casefold()
    names = set(siblings)
    for suffix in EDIT_SUFFIXES:
        if folded.endswith(suffix.casefold()) and len(stem) > len(suffix):
            base = stem[: -len(suffix)] + counter
            for candidate in (base + ext, *sorted(n for n in names if split_ext(n)[0] == base)):
                if candidate in names and candidate != name:
                    return candidate, stem[len(stem) - len(suffix) :]
    return None


def motion_stem(name: str) -> str:
    """The stem Live/motion halves share: ``IMG_1.HEIC``/``IMG_1.MOV``, ``PXL.MP.jpg``/``PXL.MP``."""
    stem, ext = split_ext(name)
    if ext.lower() in _MOTION_SUFFIXES:
        return stem
    inner_stem, inner_ext = split_ext(stem)
    if inner_ext.lower() in _MOTION_SUFFIXES:
        return inner_stem
    return stem
