"""Library-wide matching (``identity.find_matches``, what a first ``resolve`` runs over
every photo at once): time and peak memory per photo as the library grows.

    python bench/bench_find_matches.py                 # N = 100,000 and 300,000
    python bench/bench_find_matches.py --n 1000000
    PYTHONPATH=OTHER/src python bench/bench_find_matches.py --n 100000   # another version

Candidates are synthetic but shaped like a library: random 64-bit pHashes and 8x8
thumbnails, every 50 photos a byte-identical copy and a re-encode (3 flipped bits)
of the one before, and every 100 a burst shot in the same second as the one before. Time is measured without tracing;
the peak is tracemalloc's over the call (what matching adds to the candidates held).
A digest of the groups found lets two versions be compared for the same answer.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
import tracemalloc
from datetime import datetime, timedelta

from photosync.identity.classify import Candidate, find_matches
from photosync.identity.phash import Fingerprint

#: photos 37 s apart; every hundredth shares its second with the one before (a burst)
START = datetime(2010, 1, 1)


def library(n: int, seed: int = 1) -> list[Candidate]:
    rng = random.Random(seed)
    out: list[Candidate] = []
    for i in range(n):
        when = (START + timedelta(seconds=37 * (i - i % 100 // 99))).isoformat()
        fingerprint = Fingerprint(rng.getrandbits(64), 4000, 3000, rng.randbytes(192))
        digest = f"sha256:{i:064x}"
        if i % 50 == 1:  # a copy of the one before
            fingerprint, digest, when = (
                out[-1].fingerprint,
                out[-1].content_hash,
                out[-1].taken_date,
            )  # type: ignore[assignment]
        elif i % 50 == 2:  # a re-encode of the one two before
            base = out[-2]
            assert base.fingerprint is not None and base.taken_date is not None
            fingerprint = Fingerprint(
                base.fingerprint.phash ^ 0b1011, 4000, 3000, base.fingerprint.thumb
            )
            when = base.taken_date
        out.append(
            Candidate(
                key=f"{i:08x}-1234-5678-9abc-def012345678",
                fingerprint=fingerprint,
                content_hash=digest,
                width=4000,
                height=3000,
                taken_date=when,
                camera_make="Canon",
                camera_model="EOS",
                size_bytes=4_000_000 + i,
                format="jpeg",
                filename=f"IMG_{i:07d}.JPG",
            )
        )
    return out


def run(n: int) -> None:
    candidates = library(n)
    gc.collect()
    started = time.perf_counter()
    groups = find_matches(candidates)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(repr([(g.kind, g.keys, g.keep, g.pairs) for g in groups]).encode())
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    find_matches(candidates)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(
        f"N={n:>9,}: {seconds:7.2f} s ({seconds / n * 1e6:.1f} us/photo), "
        f"{len(groups):,} groups, peak added {peak / n:,.0f} B/photo, "
        f"answer {digest.hexdigest()[:12]}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 300_000])
    for n in parser.parse_args().n:
        run(n)


if __name__ == "__main__":
    main()
