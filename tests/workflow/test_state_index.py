"""The state cache's hash index answers the same with and without ``prefetch_hashes``.

Discover looks a few records up in one query (``prefetch_hashes``) instead of one
query each; an answer kept from a prefetch must never outlive a write of the index,
or discover would file bytes the archive already holds as a new photo.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.state import StateDB

HASHES = [f"sha256:{n:064x}" for n in range(6)]
PHOTOS = ["p0", "p1", "p2"]

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("prefetch"), st.lists(st.sampled_from(HASHES), max_size=6)),
        st.tuples(st.just("prefetch_paths"), st.lists(st.sampled_from(PHOTOS), max_size=3)),
        st.tuples(
            st.just("index"),
            st.tuples(
                st.sampled_from(PHOTOS),
                st.lists(st.sampled_from(HASHES), max_size=3),
                st.sampled_from(["a", "b"]),
            ),
        ),
        st.tuples(st.just("flush"), st.none()),
        st.tuples(st.just("forget"), st.sampled_from(PHOTOS)),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops)
def test_prefetched_answers_never_outlive_a_write(tmp_path_factory, ops) -> None:  # type: ignore[no-untyped-def]
    db = StateDB(Path(tmp_path_factory.mktemp("state")) / "state.sqlite")
    truth: dict[str, str] = {}
    paths: dict[str, str] = {}
    try:
        for op, arg in ops:
            if op == "prefetch":
                db.prefetch_hashes(arg)
            elif op == "prefetch_paths":
                db.prefetch_paths(arg)
            elif op == "index":
                photo, hashes, where = arg
                db.index_record(photo, f"photos/{where}/{photo}.json", hashes)
                truth.update(dict.fromkeys(hashes, photo))
                paths[photo] = f"photos/{where}/{photo}.json"
            elif op == "flush":
                db.flush()
            elif op == "forget":
                db.forget_record(arg)
                truth = {h: p for h, p in truth.items() if p != arg}
                paths.pop(arg, None)
            else:
                db.clear_indexes()
                truth, paths = {}, {}
            for content_hash in HASHES:
                assert db.photo_for_hash(content_hash) == truth.get(content_hash), (op, arg)
            for photo in PHOTOS:
                assert db.path_for_photo(photo) == paths.get(photo), (op, arg)
    finally:
        db.close()


def test_a_prefetch_answers_without_a_query(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.sqlite")
    db.index_record("p0", "photos/p0.json", [HASHES[0]])
    db.flush()
    db.prefetch_hashes([HASHES[0], HASHES[1]])
    queries: list[str] = []
    db.conn.set_trace_callback(queries.append)
    assert db.photo_for_hash(HASHES[0]) == "p0"
    assert db.photo_for_hash(HASHES[1]) is None
    assert queries == []
    assert db.photo_for_hash(HASHES[2]) is None  # not prefetched: asked
    assert len(queries) == 1
    db.close()
