"""Rules of the archive copy's manifest that must hold for every input (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.errors import BlobError
from photosync.workflow.backup import (
    Manifest,
    bundle_name,
    manifest_name,
    newest_manifest,
    parse_manifest,
)

hex40 = st.text("0123456789abcdef", min_size=40, max_size=40)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@st.composite
def chains(draw: st.DrawFn) -> Manifest:
    tips = draw(st.lists(hex40, min_size=1, max_size=6, unique=True))
    bundles = []
    base = None
    for tip in tips:
        digest = draw(hex64)
        copy = draw(st.integers(0, 3))
        bundles.append(
            {
                "name": bundle_name(base, tip, digest, copy),
                "sha256": digest,
                "size": draw(st.integers(0, 10**9)),
                "base": base,
                "tip": tip,
                "ref": "refs/heads/main",
            }
        )
        base = tip
    return Manifest(draw(st.integers(1, 10**9)), tips[-1], "main", bundles)


@settings(deadline=None)
@given(chains())
def test_a_written_manifest_reads_back_the_same(manifest: Manifest) -> None:
    back = parse_manifest(manifest.to_bytes(), manifest.name)
    assert back == manifest


@settings(deadline=None)
@given(chains(), st.data())
def test_a_damaged_manifest_is_refused_never_trusted_or_crashing(
    manifest: Manifest, data: st.DataObject
) -> None:
    raw = bytearray(manifest.to_bytes())
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        back = parse_manifest(bytes(raw), manifest.name)
    except BlobError:
        return

    # what recover trusts (which bytes, checked by SHA-256, bring which commits) cannot be
    # changed by one damaged byte: a name, its digest and its range are bound together
    def bound(m: Manifest) -> list[tuple[str, str, str | None, str]]:
        return [(b["name"], b["sha256"], b["base"], b["tip"]) for b in m.bundles]

    assert bound(back) == bound(manifest) and back.head == manifest.head


@given(st.binary(max_size=300), st.text(max_size=80))
def test_any_bytes_under_any_name_parse_or_raise_blob_error(raw: bytes, name: str) -> None:
    try:
        back = parse_manifest(raw, name)
    except BlobError:
        return
    assert back.bundles[0]["base"] is None and back.bundles[-1]["tip"] == back.head


@given(st.lists(st.tuples(st.integers(1, 10**9), hex40), min_size=1, max_size=20))
def test_the_newest_manifest_is_the_highest_seq(entries: list[tuple[int, str]]) -> None:
    listing = {manifest_name(seq, head): 1 for seq, head in entries}
    listing["bundle-x.bundle"] = 5
    newest = newest_manifest(listing)
    assert newest is not None and newest[0] == max(seq for seq, _ in entries)
    assert newest_manifest({"bundle-x.bundle": 5}) is None
