"""Near-neighbour search over 64-bit perceptual hashes without comparing all pairs.

Multi-index hashing (Norouzi et al.): the 64 bits are cut into ``m`` chunks.  If
two hashes differ in at most ``r`` bits, then by the pigeonhole principle at
least one chunk differs in at most ``r // m`` bits.  So a query only looks in
the buckets of chunk values within ``r // m`` bit flips of its own chunks and
verifies those candidates with a real Hamming distance.  With the default 3
chunks of 21-22 bits and r = 8 that is 3 x ~250 bucket probes and a few dozen
verifications per query instead of a scan of the whole library.

Two ways in:

* ``query(hash, max_distance)`` - one hash, dictionary buckets (incremental).
* ``pairs(max_distance)`` - every pair within the radius at once, the same
  bucket logic vectorised with numpy (what library-wide matching needs).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from itertools import combinations
from math import comb
from typing import TYPE_CHECKING, Generic, TypeVar

from photosync.identity.phash import HASH_BITS

if TYPE_CHECKING:  # numpy is imported when hashes are compared, not by every command
    import numpy as np

K = TypeVar("K", bound=Hashable)

_MASK64 = (1 << HASH_BITS) - 1


def popcount64(values: np.ndarray) -> np.ndarray:
    """Bits set per uint64 element (numpy >= 2 has it built in)."""
    import numpy as np

    if hasattr(np, "bitwise_count"):
        return np.asarray(np.bitwise_count(values))
    v = values.astype(np.uint64)
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.asarray((v * np.uint64(0x0101010101010101)) >> np.uint64(56))


def _chunk_layout(chunks: int) -> list[tuple[int, int]]:
    """(shift, width) of each chunk, widths as equal as possible, covering all 64 bits."""
    if not 1 <= chunks <= HASH_BITS:
        raise ValueError(f"chunks must be within 1..{HASH_BITS}, got {chunks}")
    base, extra = divmod(HASH_BITS, chunks)
    layout: list[tuple[int, int]] = []
    shift = 0
    for i in range(chunks):
        width = base + (1 if i < extra else 0)
        layout.append((shift, width))
        shift += width
    return layout


def _flip_masks(width: int, radius: int) -> list[int]:
    """All masks of ``width`` bits with at most ``radius`` bits set (radius 0 -> [0])."""
    masks = [0]
    for r in range(1, min(radius, width) + 1):
        for bits in combinations(range(width), r):
            m = 0
            for b in bits:
                m |= 1 << b
            masks.append(m)
    return masks


class HashIndex(Generic[K]):
    """Multi-index hash table over 64-bit hashes, keyed by caller-chosen keys.

    ``stats`` counts Hamming verifications so benchmarks can report the work
    done per query against a brute-force scan.
    """

    def __init__(self, chunks: int = 3) -> None:
        self._layout = _chunk_layout(chunks)
        self._keys: list[K] = []
        self._hashes: list[int] = []
        self._tables: list[dict[int, list[int]]] = [{} for _ in self._layout]
        self._mask_cache: dict[tuple[int, int], list[int]] = {}
        self.comparisons = 0

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def chunks(self) -> int:
        return len(self._layout)

    def add(self, key: K, hash_value: int) -> None:
        if not 0 <= hash_value <= _MASK64:
            raise ValueError(f"hash must be a 64-bit unsigned integer, got {hash_value!r}")
        item = len(self._keys)
        self._keys.append(key)
        self._hashes.append(hash_value)
        for table, (shift, width) in zip(self._tables, self._layout, strict=True):
            table.setdefault((hash_value >> shift) & ((1 << width) - 1), []).append(item)

    def _masks(self, width: int, radius: int) -> list[int]:
        cached = self._mask_cache.get((width, radius))
        if cached is None:
            cached = self._mask_cache[(width, radius)] = _flip_masks(width, radius)
        return cached

    def query(
        self, hash_value: int, max_distance: int, method: str = "auto"
    ) -> list[tuple[K, int]]:
        """Every (key, distance) with Hamming distance <= max_distance, nearest first.

        ``method``: "auto" picks buckets or a scan by cost; "buckets"/"scan" force one (tests).
        """
        if max_distance < 0:
            return []
        sub_radius = max_distance // len(self._layout)
        if method == "scan" or (
            method == "auto" and self._probes(sub_radius) * 4 > len(self._hashes)
        ):
            return self._scan(hash_value, max_distance)
        seen: set[int] = set()
        for table, (shift, width) in zip(self._tables, self._layout, strict=True):
            own = (hash_value >> shift) & ((1 << width) - 1)
            for mask in self._masks(width, sub_radius):
                bucket = table.get(own ^ mask)
                if bucket:
                    seen.update(bucket)
        self.comparisons += len(seen)
        found = []
        for item in seen:
            d = (self._hashes[item] ^ hash_value).bit_count()
            if d <= max_distance:
                found.append((d, item))
        found.sort()
        return [(self._keys[item], d) for d, item in found]

    def _probes(self, sub_radius: int) -> int:
        """Bucket probes per query for one sub-radius, over all chunks."""
        return sum(
            sum(comb(width, r) for r in range(min(sub_radius, width) + 1))
            for _, width in self._layout
        )

    def _scan(self, hash_value: int, max_distance: int) -> list[tuple[K, int]]:
        self.comparisons += len(self._hashes)
        found = sorted(
            (d, i)
            for i, h in enumerate(self._hashes)
            if (d := (h ^ hash_value).bit_count()) <= max_distance
        )
        return [(self._keys[i], d) for d, i in found]

    def pairs(self, max_distance: int, method: str = "auto") -> Iterator[tuple[K, K, int]]:
        """Every unordered pair of distinct items within ``max_distance``, each once."""
        for i, j, d in self.pair_indices(max_distance, method):
            yield self._keys[i], self._keys[j], d

    def pair_indices(self, max_distance: int, method: str = "auto") -> list[tuple[int, int, int]]:
        """``pairs`` by insertion index (i < j); vectorised multi-index self-join.

        ``method``: "auto" picks buckets or brute force by cost; "buckets"/"brute" force one.
        """
        import numpy as np

        found, compared = near_pairs(
            np.array(self._hashes, dtype=np.uint64), max_distance, self.chunks, method
        )
        self.comparisons += compared
        return [(int(i), int(j), int(d)) for i, j, d in found]


def near_pairs(
    hashes: np.ndarray, max_distance: int, chunks: int = 3, method: str = "auto"
) -> tuple[np.ndarray, int]:
    """Every pair of positions ``i < j`` of ``hashes`` (uint64) within ``max_distance``
    bits, as rows ``(i, j, distance)`` sorted, and how many pairs were compared.

    Arrays in, arrays out: a library-wide match over a million hashes holds a few
    numbers per photo, not a Python object per photo and bucket.
    """
    import numpy as np

    none = np.empty((0, 3), dtype=np.int64)
    n = int(hashes.size)
    if n < 2 or max_distance < 0:
        return none, 0
    layout = _chunk_layout(chunks)
    sub_radius = max_distance // chunks
    probes = sum(
        sum(comb(width, r) for r in range(min(sub_radius, width) + 1)) for _, width in layout
    )
    if method == "brute" or (method == "auto" and probes * 2 > n):
        return _brute_pairs(hashes, max_distance)
    compared = 0
    found: list[np.ndarray] = []
    for shift, width in layout:
        values = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        if width <= 24:  # dense start/count tables: O(1) bucket lookup per probe
            counts = np.bincount(sorted_values, minlength=1 << width).astype(np.int32)
            starts = (np.cumsum(counts, dtype=np.int64) - counts).astype(np.int32)
        for mask in _flip_masks(width, sub_radius):
            probe = values ^ mask
            if width <= 24:
                lo = starts[probe]
                cnt = counts[probe]
            else:
                lo = np.searchsorted(sorted_values, probe, side="left")
                cnt = np.searchsorted(sorted_values, probe, side="right") - lo
            total = int(cnt.sum())
            if total == 0:
                continue
            queries = np.repeat(np.arange(n, dtype=np.int64), cnt)
            # position of each candidate inside its bucket run
            run_start = np.repeat(np.cumsum(cnt) - cnt, cnt)
            offsets = np.arange(total, dtype=np.int64) - run_start
            items = order[np.repeat(lo, cnt) + offsets]
            keep = queries < items
            queries, items = queries[keep], items[keep]
            compared += int(queries.size)
            dist = popcount64(hashes[queries] ^ hashes[items])
            close = dist <= max_distance
            if close.any():
                found.append(
                    np.stack([queries[close], items[close], dist[close].astype(np.int64)], axis=1)
                )
    if not found:
        return none, compared
    return np.unique(np.concatenate(found), axis=0), compared


def _brute_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, int]:
    """All pairs by blocks of rows; only for tiny indexes or huge radii."""
    import numpy as np

    n = hashes.size
    out: list[tuple[int, int, int]] = []
    compared = 0
    for i in range(n - 1):
        rest = hashes[i + 1 :]
        compared += int(rest.size)
        dist = popcount64(rest ^ hashes[i])
        for j in np.nonzero(dist <= max_distance)[0]:
            out.append((i, i + 1 + int(j), int(dist[j])))
    return np.array(out, dtype=np.int64).reshape(-1, 3), compared
