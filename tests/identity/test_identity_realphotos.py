"""Precision and recall of the matcher on the real shared photos and generated variants."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from pathlib import Path

import pytest
from PIL import Image

from photosync.identity import (
    Candidate,
    MatchKind,
    classify_pair,
    compute_fingerprint,
    find_matches,
    fingerprint_file,
    phash,
)
from tests.identity.truth import (
    CROP_NOEXIF,
    DIFFERENT,
    HDR_NO,
    HDR_YES,
    RELATED,
    SAME,
    VARIANTS,
    make_variants,
    read_manifest,
    shared_candidates,
    shared_truth,
    variant_candidate,
)

pytestmark = pytest.mark.shared

# larger real photos (several cameras, phones, HEIC, one with EXIF orientation 6)
VARIANT_SOURCES = [
    "photos/camera/Apple iPhone 4.jpg",
    "photos/camera/Canon EOS 7D.jpg",
    "photos/camera/Nikon D5000.jpg",
    "photos/camera/Olympus PEN E-P3.jpg",
    "photos/camera/Sony DSC-HX5V (2).jpg",
    "photos/camera/Samsung GT-I9000 (Galaxy S).jpg",
    "photos/camera/Reconyx HF2 Pro Covert.jpg",
    "photos/gps/DSCN0012.jpg",
    "photos/neardup/iphone_hdr_YES.jpg",
    "photos/odd/45-gps_ifd.jpg",
    "photos/xmp/no_exif.jpg",
    "photos/heic/IMG_1034.heic",
    "photos/heic/xiaomi.heic",
    "photos/heic/Issue 263 dotnet.heic",
]


@pytest.fixture(scope="module")
def shared(testdata: Path) -> tuple[list[Candidate], dict[str, str]]:
    return shared_candidates(testdata)


@pytest.fixture(scope="module")
def variants(
    testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Candidate], dict[str, tuple[str, str]]]:
    """Candidates for the sources and their variants; key -> (source, variant name)."""
    out_dir = tmp_path_factory.mktemp("variants")
    manifest = read_manifest(testdata)
    shared_by_key = {c.key: c for c in shared_candidates_cache(testdata)}
    cands: list[Candidate] = []
    origin: dict[str, tuple[str, str]] = {}

    def build(n: int, source: str) -> list[tuple[str, Candidate]]:
        made = make_variants(testdata / source, out_dir, f"s{n}")
        return [
            (name, variant_candidate(path, manifest[source], keeps)) for name, path, keeps in made
        ]

    # Pillow releases the GIL while coding images: two threads halve the setup time
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(build, range(len(VARIANT_SOURCES)), VARIANT_SOURCES))
    for source, made in zip(VARIANT_SOURCES, built, strict=True):
        cands.append(shared_by_key[source])
        origin[source] = (source, "original")
        for name, cand in made:
            cands.append(cand)
            origin[cand.key] = (source, name)
    return cands, origin


_CACHE: dict[Path, list[Candidate]] = {}


def shared_candidates_cache(testdata: Path) -> list[Candidate]:
    if testdata not in _CACHE:
        _CACHE[testdata] = shared_candidates(testdata)[0]
    return _CACHE[testdata]


def test_fingerprint_decodes_reduced_and_rejects(
    testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large JPEGs are decoded at a reduced DCT scale (speed is measured in bench/, not here)."""
    files = sorted(p for p in (testdata / "photos").rglob("*") if p.is_file())
    decoded: list[tuple[int, int]] = []
    real_to_rgb = phash._to_rgb

    def spy(im: Image.Image) -> Image.Image:
        decoded.append(im.size)
        return real_to_rgb(im)

    monkeypatch.setattr(phash, "_to_rgb", spy)
    results = {}
    checked = 0
    for p in files:
        decoded.clear()
        result = fingerprint_file(p)
        results[p.relative_to(testdata).as_posix()] = result
        large_jpeg = p.suffix.lower() == ".jpg" and p.stat().st_size > 1_500_000
        if large_jpeg and result.fingerprint is not None:
            # draft decoding: at least a 1/2 DCT scale, never the full 8 MP decode
            assert decoded and max(decoded[0]) * 2 <= max(result.width, result.height), p
            checked += 1
    assert checked >= 1
    # tiny/flat/undecodable files get no fingerprint and a reason; never an exception
    for name in (
        "photos/camera/Google.jpg",
        "photos/odd/Writer.jpg",
        "photos/odd/truncated.heic",
        "photos/odd/truncated_jpeg.jpg",
        "photos/odd/empty.heic",
        "photos/video/with-gps.mp4",
        "photos/xmp/digikam-example.xmp",
    ):
        assert results[name].fingerprint is None, name
        assert results[name].reason, name
    assert "too small" in (results["photos/camera/Google.jpg"].reason or "")


def test_orientation_is_applied_once(testdata: Path) -> None:
    """All 8 EXIF orientations display the same; HEIC (already rotated by pillow-heif) too."""
    prints = [
        compute_fingerprint(testdata / f"photos/orientation/landscape_{i}.jpg") for i in range(1, 9)
    ]
    assert all(p is not None for p in prints)
    sizes = {(p.width, p.height) for p in prints if p}
    assert sizes == {(600, 450)}
    worst = max(a.distance(b) for a, b in combinations([p for p in prints if p], 2))
    assert worst <= 4
    heic = compute_fingerprint(
        testdata / "photos/heic/Issue 263 dotnet.heic"
    )  # stored orientation 6
    assert heic is not None and (heic.width, heic.height) == (3024, 4032)
    # the EXIF-stripped, pixels-rotated re-encode matches only when rotation was applied
    derived = compute_fingerprint(
        testdata / "photos/derived/landscape_6__q60_50pct_noexif_rotated.jpg"
    )
    original = compute_fingerprint(testdata / "photos/orientation/landscape_6.jpg")
    assert derived and original and derived.distance(original) <= 2


def test_shared_photos_all_pairs(
    shared: tuple[list[Candidate], dict[str, str]], testdata: Path
) -> None:
    cands, _ = shared
    by_key = {c.key: c for c in cands}
    labels = shared_truth(testdata, by_key)
    confusion: Counter[tuple[str, str]] = Counter()
    false_merges = []
    missed = []
    for pair, label in labels.items():
        a, b = sorted(pair)
        match = classify_pair(by_key[a], by_key[b])
        confusion[(label, match.kind.value)] += 1
        if label == DIFFERENT and match.kind.automatic:
            false_merges.append((a, b, match))
        if label == SAME and not match.kind.automatic:
            missed.append((a, b, match))
    merged = sum(
        n for (label, kind), n in confusion.items() if kind in ("exact", "quality_variant")
    )
    true_merged = sum(
        n
        for (label, kind), n in confusion.items()
        if kind in ("exact", "quality_variant") and label != DIFFERENT
    )
    positives = sum(n for (label, _), n in confusion.items() if label == SAME)
    precision = true_merged / merged
    recall = (positives - len(missed)) / positives
    print(f"\nshared photos: {len(labels)} pairs, precision {precision:.3f}, recall {recall:.3f}")
    for key, n in sorted(confusion.items()):
        print(f"  truth={key[0]:9s} got={key[1]:16s} {n}")
    assert not false_merges, false_merges
    assert precision == 1.0
    assert recall >= 0.95, missed
    # the HDR on/off pair (same second, different sub-second) is two photos
    assert classify_pair(by_key[HDR_NO], by_key[HDR_YES]).kind is MatchKind.DIFFERENT
    assert classify_pair(by_key[HDR_NO], by_key[HDR_YES]).contradicted
    # related pairs (orientation set) are either merged or shown to a human, never lost
    assert confusion[(RELATED, "different")] == 0


def test_shared_photos_find_matches(
    shared: tuple[list[Candidate], dict[str, str]], testdata: Path
) -> None:
    cands, _ = shared
    labels = shared_truth(testdata, [c.key for c in cands])
    groups = find_matches(cands)
    for group in groups:
        if group.kind.automatic:
            for a, b in combinations(group.keys, 2):
                assert labels[frozenset((a, b))] != DIFFERENT, (a, b, group)
            assert group.keep in group.keys
        else:
            # an edit group never contains both HDR shots: metadata proves them separate
            assert not {HDR_NO, HDR_YES} <= set(group.keys)
    exact = [g for g in groups if g.kind is MatchKind.EXACT]
    assert [sorted(g.keys) for g in exact] == [
        ["photos/camera/Epson PhotoPC 3000Z.jpg", "photos/camera/Seiko Epson PhotoPC 3000Z.jpg"]
    ]
    heic_group = next(g for g in groups if "photos/heic/IMG_5195.HEIC" in g.keys)
    assert heic_group.kind is MatchKind.QUALITY_VARIANT
    assert heic_group.keep == "photos/heic/IMG_5195.HEIC"  # more pixels than its JPEG copies
    htc = next(g for g in groups if "photos/camera/HTC Desire.jpg" in g.keys)
    assert "photos/png_webp/HTC Desire.webp" in htc.keys
    assert htc.keep == "photos/camera/HTC Desire.jpg"  # same pixels: the camera's JPEG beats WebP


def test_variants_precision_recall(
    variants: tuple[list[Candidate], dict[str, tuple[str, str]]],
) -> None:
    cands, origin = variants
    by_key = {c.key: c for c in cands}
    per_variant: dict[str, Counter[str]] = {}
    hits = total = 0
    crop_edit = crop_total = 0
    for key, (source, name) in origin.items():
        if name == "original":
            continue
        match = classify_pair(by_key[source], by_key[key])
        per_variant.setdefault(name, Counter())[match.kind.value] += 1
        if name == CROP_NOEXIF:
            assert not match.kind.automatic, (key, match)
            continue
        expected = VARIANTS[name][1]
        if expected is MatchKind.EDIT_VARIANT:
            crop_total += 1
            crop_edit += match.kind is MatchKind.EDIT_VARIANT
            assert match.kind is not MatchKind.QUALITY_VARIANT, (key, match)
        else:
            total += 1
            hits += match.kind is expected
    # precision over every pair of sources and variants: a merge across sources is false,
    # and so is merging a crop with anything
    merged = false = 0
    for a, b in combinations(cands, 2):
        match = classify_pair(a, b)
        if not match.kind.automatic:
            continue
        merged += 1
        (sa, na), (sb, nb) = origin[a.key], origin[b.key]
        crop = {"crop80", CROP_NOEXIF} & {na, nb}
        if sa != sb or (crop and not (na == nb or {na, nb} == {"crop80", CROP_NOEXIF})):
            false += 1
    recall = hits / total
    precision = (merged - false) / merged
    print(
        f"\nvariants of {len(VARIANT_SOURCES)} photos: recall {recall:.3f} ({hits}/{total}), "
        f"precision {precision:.3f} over {merged} merged pairs, crops flagged edit_variant "
        f"{crop_edit}/{crop_total}"
    )
    for name, counts in sorted(per_variant.items()):
        print(f"  {name:22s} {dict(counts)}")
    assert precision == 1.0
    assert recall >= 0.95
    assert crop_edit / crop_total >= 0.9


def test_variants_find_matches(
    variants: tuple[list[Candidate], dict[str, tuple[str, str]]],
    shared: tuple[list[Candidate], dict[str, str]],
    testdata: Path,
) -> None:
    """The indexed grouping finds the same merges as all pairs, alongside the whole shared set."""
    cands, origin = variants
    extra = [c for c in shared[0] if c.key not in origin]
    groups = find_matches(cands + extra)
    derived = json.loads((testdata / "near-duplicates.json").read_text(encoding="utf-8"))
    for group in groups:
        if not group.kind.automatic or not set(group.keys) & set(origin):
            continue
        # shared/derived copies of a source photo are the same picture too
        sources = {
            origin[k][0] if k in origin else derived.get(k, {}).get("from", k) for k in group.keys
        }
        assert len(sources) == 1, group.keys
    for source in VARIANT_SOURCES:
        found = [g for g in groups if g.kind.automatic and source in g.keys]
        assert len(found) == 1, source
        group = found[0]
        names = {origin[k][1] for k in group.keys if k in origin}
        expected = {n for n, (_, kind) in VARIANTS.items() if kind is MatchKind.QUALITY_VARIANT}
        assert len(expected - names) <= 1, (source, expected - names)
        assert not names & {"crop80", CROP_NOEXIF}
        keep = origin[group.keep or ""]
        assert keep[1] in (
            "original",
            "png",
            "exif_stripped",
            "rotated_pixels_noexif",
            "rotated_pixels_tagged",
            "q85",
        )
        assert keep[1] == "original" or (
            # a lossless/less compressed re-encode of the same pixels may be bigger than a
            # phone's original JPEG; it must never be a smaller picture
            next(c for c in cands if c.key == group.keep).pixels
            == next(c for c in cands if c.key == source).pixels
        )
    crop_groups = [
        g
        for g in groups
        if g.kind is MatchKind.EDIT_VARIANT
        and any(origin.get(k, ("", ""))[1] == "crop80" for k in g.keys)
    ]
    assert len(crop_groups) >= len(VARIANT_SOURCES) - 1
