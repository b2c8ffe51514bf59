"""Fingerprint, index and classifier rules that must hold for all inputs (no shared data needed)."""

from __future__ import annotations

import dataclasses
import random
from itertools import combinations
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photosync.errors import PhotosyncError
from photosync.identity import (
    Candidate,
    Fingerprint,
    FingerprintError,
    HashIndex,
    MatchKind,
    classify_pair,
    compute_fingerprint,
    find_matches,
    fingerprint_file,
    fingerprint_image,
)
from photosync.identity.classify import EDIT_NEAR_DISTANCE, EDIT_SAME_SHOT_DISTANCE
from photosync.identity.phash import THUMB_BYTES


def _photo_like(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth random 'scene' (blobs of colour), photo-like enough for pHash."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)


def _fp(seed: int) -> Fingerprint:
    result = fingerprint_image(_photo_like(seed))
    assert result.fingerprint is not None, result.reason
    return result.fingerprint


# --- fingerprints ---------------------------------------------------------------------


def test_phash_equals_imagehash_reference() -> None:
    """Our numpy DCT is the classic pHash: same bits as ImageHash on an undrafted image."""
    for seed in range(5):
        im = _photo_like(seed, (256, 192))
        ours = fingerprint_image(im).fingerprint
        assert ours is not None
        theirs = int(str(imagehash.phash(im)), 16)
        assert ours.distance(Fingerprint(theirs, 1, 1, bytes(THUMB_BYTES))) <= 2


def test_fingerprint_roundtrip_and_malformed() -> None:
    fp = _fp(1)
    assert Fingerprint.from_dict(fp.to_dict()) == fp
    for bad in (
        None,
        "abc",
        {"phash": "zz", "width": 1, "height": 1, "thumb": ""},
        {"phash": "00", "width": 0, "height": 1, "thumb": ""},
        {**fp.to_dict(), "thumb": "AAAA"},
        {**fp.to_dict(), "algo": "md5"},
        {"width": 3},
    ):
        with pytest.raises(FingerprintError):
            Fingerprint.from_dict(bad)
    assert issubclass(FingerprintError, PhotosyncError)


def test_unreadable_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(FingerprintError, match="cannot read"):
        compute_fingerprint(tmp_path / "missing.jpg")
    garbage = tmp_path / "x.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = fingerprint_file(garbage)
    assert result.fingerprint is None and result.reason
    empty = tmp_path / "empty.heic"
    empty.write_bytes(b"")
    assert fingerprint_file(empty).fingerprint is None


def test_an_eps_is_not_fingerprinted_and_never_reaches_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file from any source (a Takeout, a shared folder): Pillow would draw an EPS
    # by running ghostscript on it; photosync decodes only photo formats
    from PIL import EpsImagePlugin

    started: list[object] = []

    def ghostscript(*args: object, **kwargs: object) -> None:
        started.append(args)
        raise OSError("ghostscript was started")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    eps = tmp_path / "drawing.eps"
    eps.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 640 480\n"
        b"newpath 0 0 moveto 640 480 lineto stroke\nshowpage\n%%EOF\n"
    )
    result = fingerprint_file(eps)
    assert result.fingerprint is None and result.reason
    assert started == []


def test_jpeg_exif_orientation_and_draft(tmp_path: Path) -> None:
    """Stored turned + orientation tag == stored upright; big JPEGs decode at reduced scale."""
    upright = _photo_like(7, (1600, 1200))
    a = tmp_path / "upright.jpg"
    upright.save(a, quality=90)
    b = tmp_path / "tagged.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # display = rotate 90 CW
    upright.transpose(Image.Transpose.ROTATE_90).save(b, quality=90, exif=exif)
    fa, fb = compute_fingerprint(a), compute_fingerprint(b)
    assert fa and fb
    assert (fa.width, fa.height) == (fb.width, fb.height) == (1600, 1200)
    assert fa.distance(fb) <= 2
    untagged = tmp_path / "turned.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(untagged, quality=90)
    fc = compute_fingerprint(untagged)
    assert fc and fc.distance(fa) > 10  # without the tag it really is turned


@pytest.mark.parametrize("orientation", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65535])
def test_every_orientation_gives_the_pixels_exif_transpose_gives(
    tmp_path: Path, orientation: int
) -> None:
    """The fingerprint turns an image itself (no EXIF rewrite): exactly Pillow's turn."""
    from PIL import ImageOps

    path = tmp_path / "tagged.png"  # lossless: the pixels read back are the ones saved
    exif = Image.Exif()
    exif[0x0112] = orientation
    _photo_like(orientation, (200, 150)).save(path, exif=exif)
    with Image.open(path) as im:
        im.load()
        expected = fingerprint_image(ImageOps.exif_transpose(im).convert("RGB"))
    found = fingerprint_file(path)
    assert found.fingerprint == expected.fingerprint
    assert (found.width, found.height) == (expected.width, expected.height)


def test_alpha_and_16bit_images() -> None:
    rgba = _photo_like(3).convert("RGBA")
    assert fingerprint_image(rgba).fingerprint is not None
    grey16 = Image.fromarray(np.asarray(_photo_like(3).convert("L"), dtype=np.int32) * 200, "I")
    assert fingerprint_image(grey16).fingerprint is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    colour=st.tuples(*[st.integers(0, 255)] * 3),
    width=st.integers(1, 400),
    height=st.integers(1, 400),
    noise=st.integers(0, 3),
    seed=st.integers(0, 2**16),
    photo_seed=st.integers(0, 50),
)
def test_flat_or_tiny_images_never_match_a_photo(
    colour: tuple[int, int, int], width: int, height: int, noise: int, seed: int, photo_seed: int
) -> None:
    """Flat (a colour plus faint noise) or tiny images get no fingerprint and match nothing."""
    rng = np.random.default_rng(seed)
    base = np.empty((height, width, 3), dtype=np.int16)
    base[:] = colour
    base += rng.integers(-noise, noise + 1, size=base.shape, dtype=np.int16)
    flat = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    result = fingerprint_image(flat)
    assert result.fingerprint is None
    assert result.reason
    tiny = _photo_like(photo_seed, (max(1, width % 64), max(1, height % 64)))
    assert fingerprint_image(tiny).fingerprint is None
    photo = Candidate("photo", _fp(photo_seed), taken_date="2020-01-01T10:00:00")
    for other in (flat, tiny):
        cand = Candidate(
            "other", fingerprint_image(other).fingerprint, taken_date="2020-01-01T10:00:00"
        )
        assert classify_pair(photo, cand).kind is MatchKind.DIFFERENT
        assert classify_pair(cand, photo).kind is MatchKind.DIFFERENT


# --- index --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 120),
    radius=st.integers(0, 10),
    chunks=st.sampled_from([3, 4, 5, 8]),
)
def test_index_equals_brute_force(seed: int, n: int, radius: int, chunks: int) -> None:
    rng = random.Random(seed)
    hashes: list[int] = []
    for _ in range(n):  # clusters of near hashes so that small radii find something
        if hashes and rng.random() < 0.5:
            h = rng.choice(hashes)
            for bit in rng.sample(range(64), rng.randint(0, 8)):
                h ^= 1 << bit
        else:
            h = rng.getrandbits(64)
        hashes.append(h)
    index: HashIndex[int] = HashIndex(chunks=chunks)
    for i, h in enumerate(hashes):
        index.add(i, h)
    expected_pairs = {
        (i, j, (hashes[i] ^ hashes[j]).bit_count())
        for i, j in combinations(range(n), 2)
        if (hashes[i] ^ hashes[j]).bit_count() <= radius
    }
    for method in ("auto", "buckets", "brute"):
        assert set(index.pairs(radius, method)) == expected_pairs, method
    probe = (
        rng.getrandbits(64) if not hashes else hashes[rng.randrange(n)] ^ (1 << rng.randrange(64))
    )
    expected = sorted(
        ((hashes[i] ^ probe).bit_count(), i)
        for i in range(n)
        if (hashes[i] ^ probe).bit_count() <= radius
    )
    for method in ("auto", "buckets", "scan"):
        assert sorted((d, k) for k, d in index.query(probe, radius, method)) == expected, method


def test_index_rejects_bad_hash() -> None:
    index: HashIndex[str] = HashIndex()
    with pytest.raises(ValueError):
        index.add("x", 1 << 64)
    with pytest.raises(ValueError):
        HashIndex(chunks=0)


def test_index_is_sub_quadratic() -> None:
    rng = random.Random(5)
    index: HashIndex[int] = HashIndex()
    n = 20_000
    for i in range(n):
        index.add(i, rng.getrandbits(64))
    index.comparisons = 0
    for _ in range(200):
        index.query(rng.getrandbits(64), 8)
    assert index.comparisons / 200 < n / 100  # a scan would verify all n


# --- classification rules ---------------------------------------------------------------

_fps = [_fp(s) for s in range(6)]


def _flip(fp: Fingerprint, bits: list[int]) -> Fingerprint:
    h = fp.phash
    for b in bits:
        h ^= 1 << b
    return Fingerprint(h, fp.width, fp.height, fp.thumb)


_candidates = st.builds(
    Candidate,
    key=st.sampled_from(["a", "b"]),
    fingerprint=st.one_of(
        st.none(),
        st.builds(
            _flip,
            st.sampled_from(_fps[:2]),
            st.lists(st.integers(0, 63), max_size=10),
        ),
    ),
    content_hash=st.sampled_from([None, "h1", "h2"]),
    width=st.sampled_from([None, 320, 640, 240]),
    height=st.sampled_from([None, 240, 480, 320]),
    taken_date=st.sampled_from(
        [
            None,
            "2020-05-04T18:39:11",
            "2020-05-04T18:39:12",
            "2020-05-04T19:39:11",
            "2020-05-04T18:39:11.5",
            "2020-05-04T18:39:11-04:00",
            "2020-05-04T22:39:11Z",
            "2020-05-04T18:45:00",
            "garbage",
        ]
    ),
    subsec=st.sampled_from([None, "016", "550", "5", ""]),
    camera_make=st.sampled_from([None, "Apple", "NIKON CORPORATION", "Nikon"]),
    camera_model=st.sampled_from([None, "iPhone 11 Pro", "NIKON D70", "D70", "E-P3"]),
    size_bytes=st.sampled_from([None, 1000, 50_000]),
    format=st.sampled_from([None, "jpeg", "heic", "png", "webp"]),
)


@settings(max_examples=400, deadline=None)
@given(a=_candidates, b=_candidates)
def test_classification_is_symmetric(a: Candidate, b: Candidate) -> None:
    b = dataclasses.replace(b, key="b" if a.key == "a" else "a")
    ab, ba = classify_pair(a, b), classify_pair(b, a)
    assert ab.kind is ba.kind
    assert ab.keep == ba.keep
    assert ab.distance == ba.distance
    assert ab.contradicted == ba.contradicted
    if ab.kind.automatic:
        assert ab.keep in (a.key, b.key)


def _cand(key: str, fp: Fingerprint | None, **kw: object) -> Candidate:
    return Candidate(key, fp, **kw)  # type: ignore[arg-type]


def test_time_subsec_and_camera_rules() -> None:
    fp = _fps[0]
    near = _flip(fp, [1, 2, 3, 4])  # pHash 4 apart, same thumbnail
    base = {"camera_make": "Apple", "camera_model": "iPhone 6"}
    a = _cand("a", fp, taken_date="2015-04-10T20:12:23", subsec="016", **base)
    # HDR on/off: same second, other sub-second -> two shots
    b = _cand("b", near, taken_date="2015-04-10T20:12:23", subsec="550", **base)
    assert classify_pair(a, b).kind is MatchKind.DIFFERENT
    # same sub-second, recompressed: quality variant
    c = _cand("c", near, taken_date="2015-04-10T20:12:23.016", **base)
    assert classify_pair(a, c).kind is MatchKind.QUALITY_VARIANT
    # timezone shift of whole hours (service stored UTC) is the same moment
    d = _cand("d", fp, taken_date="2015-04-11T01:12:23Z", **base)
    assert classify_pair(a, d).kind is MatchKind.QUALITY_VARIANT
    # ten minutes later is another photo, whatever the pixels say
    e = _cand("e", fp, taken_date="2015-04-10T20:22:23", **base)
    assert classify_pair(a, e).kind is MatchKind.DIFFERENT
    # another camera model is another photo
    f = _cand(
        "f", fp, taken_date="2015-04-10T20:12:23", camera_make="Apple", camera_model="iPhone 7"
    )
    assert classify_pair(a, f).kind is MatchKind.DIFFERENT
    # reworded make is the same camera
    n1 = _cand("n1", fp, camera_make="NIKON CORPORATION", camera_model="NIKON D70")
    n2 = _cand("n2", fp, camera_make="Nikon", camera_model="D70")
    assert classify_pair(n1, n2).kind is MatchKind.QUALITY_VARIANT
    # same content hash wins over everything
    x = _cand("x", None, content_hash="abc")
    y = _cand("y", None, content_hash="abc")
    assert classify_pair(x, y).kind is MatchKind.EXACT


def test_edit_variants_and_keep_best() -> None:
    fp = _fps[0]
    other_tones = Fingerprint(
        fp.phash, fp.width, fp.height, bytes(min(255, v + 40) for v in fp.thumb)
    )
    a = _cand("a", fp, taken_date="2020-01-01T10:00:00", camera_model="X")
    assert classify_pair(a, _cand("b", other_tones)).kind is MatchKind.EDIT_VARIANT
    cropped = Fingerprint(_flip(fp, list(range(20))).phash, 300, 300, fp.thumb)
    same_time = _cand("c", cropped, taken_date="2020-01-01T10:00:00", camera_model="X")
    assert classify_pair(a, same_time).kind is MatchKind.EDIT_VARIANT
    assert classify_pair(a, _cand("d", cropped)).kind is MatchKind.DIFFERENT
    big = _cand("big", fp, width=4000, height=3000, format="jpeg", size_bytes=10)
    small = _cand("small", fp, width=400, height=300, format="jpeg", size_bytes=10**6)
    heic = _cand("heic", fp, width=4000, height=3000, format="heic", size_bytes=10)
    jpeg = _cand("jpeg", fp, width=4000, height=3000, format="jpeg", size_bytes=10**6)
    assert classify_pair(big, small).keep == "big"  # pixels first
    assert classify_pair(heic, jpeg).keep == "heic"  # then the camera's own format


def test_find_matches_is_complete_linkage() -> None:
    """A chain a~b~c where a and c are different photos never merges all three."""
    fp = _fps[0]
    a = _cand("a", fp, taken_date="2020-01-01T10:00:00")
    b = _cand("b", _flip(fp, [1, 2]))  # no date: bridges both
    c = _cand("c", _flip(fp, [1, 2, 3, 4]), taken_date="2020-01-01T11:30:07")
    groups = find_matches([a, b, c])
    for g in groups:
        if g.kind.automatic:
            assert not {"a", "c"} <= set(g.keys)
    merged = [g for g in groups if g.kind.automatic]
    assert len(merged) == 1 and len(merged[0].keys) == 2
    with pytest.raises(ValueError):
        find_matches([a, a])


def test_bulk_dates_are_no_evidence() -> None:
    """Many different pictures sharing one second (scans) do not become edit variants."""
    when = {"taken_date": "1985-07-01T00:00:00", "camera_make": "Epson", "camera_model": "V600"}
    cands = [_cand(f"scan{i}", _fp(100 + i), **when) for i in range(6)]
    far = [
        (a.key, b.key)
        for a, b in combinations(cands, 2)
        if a.fingerprint
        and b.fingerprint
        and a.fingerprint.distance(b.fingerprint) > EDIT_NEAR_DISTANCE
    ]
    assert len(far) >= 10  # the pictures really are different
    # pair by pair the shared second and camera make them look like edits of one shot ...
    f0, f1 = cands[0].fingerprint, cands[1].fingerprint
    assert f0 is not None and f1 is not None
    if f0.distance(f1) <= EDIT_SAME_SHOT_DISTANCE:
        assert classify_pair(cands[0], cands[1]).kind is MatchKind.EDIT_VARIANT
    # ... but find_matches sees six pictures in one second and does not pair them on time alone
    for group in find_matches(cands):
        for _, _, match in group.pairs:
            assert match.distance is not None and match.distance <= EDIT_NEAR_DISTANCE


# --- library-wide matching: the flat-array grouping equals the plain rules -------------

_library_fps = [_flip(_fps[k % 3], bits) for k, bits in enumerate([[], [1, 5], [2], [], [9]])]


def _naive_pairs(candidates: list[Candidate]) -> set[tuple[int, int]]:
    """``candidate_pairs`` by its definition, comparing every pair."""
    from photosync.identity.classify import (
        TIME_BUCKET_MAX,
        TIME_BUCKET_MAX_PICTURES,
        _parse_when,
        _pictures_in,
    )

    def second(c: Candidate) -> str | None:
        when = _parse_when(c) if c.fingerprint is not None else None
        return None if when is None else when.moment.replace(tzinfo=None).isoformat()

    pairs = set()
    for i, j in combinations(range(len(candidates)), 2):
        a, b = candidates[i], candidates[j]
        if a.content_hash and a.content_hash == b.content_hash:
            pairs.add((i, j))
        if a.fingerprint and b.fingerprint and a.fingerprint.distance(b.fingerprint) <= 8:
            pairs.add((i, j))
    buckets: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        if (key := second(c)) is not None:
            buckets.setdefault(key, []).append(i)
    for members in buckets.values():
        if 2 <= len(members) <= TIME_BUCKET_MAX and (
            _pictures_in(candidates, members) <= TIME_BUCKET_MAX_PICTURES
        ):
            pairs.update(combinations(members, 2))
    return pairs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, *_library_fps]),
            st.sampled_from([None, "", "sha256:1", "sha256:2"]),
            st.sampled_from(
                [
                    None,
                    "2020-05-04T18:39:11",
                    "2020-05-04T18:39:11.5",
                    "2020-05-04T18:39:12",
                    "2020-05-04T18:40:11",
                    "2020-05-04T18:39:11-04:00",
                    "2020-05-04T22:39:11Z",
                    "2021-01-01T00:00:00",
                    "garbage",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_candidate_pairs_are_the_rules_pairs(
    rows: list[tuple[Fingerprint | None, str | None, str | None]],
) -> None:
    from photosync.identity.classify import candidate_pairs

    candidates = [
        Candidate(f"k{i}", fp, content_hash=digest, taken_date=when)
        for i, (fp, digest, when) in enumerate(rows)
    ]
    assert candidate_pairs(candidates) == _naive_pairs(candidates)


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=80))
def test_union_find_holds_only_what_was_joined_and_partitions_right(
    unions: list[tuple[int, int]],
) -> None:
    from photosync.identity.classify import _Groups

    groups = _Groups()
    naive: list[set[int]] = [{i} for i in range(41)]
    for a, b in unions:
        groups.union(a, b)
        sa = next(s for s in naive if a in s)
        sb = next(s for s in naive if b in s)
        if sa is not sb:
            naive.remove(sb)
            sa |= sb
    for members in naive:
        roots = {groups.find(i) for i in members}
        assert len(roots) == 1
        assert sorted(groups.members_of(roots.pop())) == sorted(members)
    joined = {i for a, b in unions if a != b for i in (a, b)}
    assert set(groups.parent) | set(groups.members) <= joined  # singletons cost nothing
