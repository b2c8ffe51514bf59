"""``photosync check`` on a big archive: the first run, a run with nothing changed since,
and a run after one committed hand edit (target: < 30 s at 1,000,000 records).

    python bench/bench_check.py                    # 1,000,000 records (generated once, cached)
    python bench/bench_check.py --records 100000

Each figure is the whole command in its own process, wall and CPU seconds (git's
children included). The hand edit is undone afterwards (the bench's snapshot/restore).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_synthetic_archive import default_path, make, restore, snapshot


def timed(label: str, archive: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figure = {"s": round(time.perf_counter() - started, 1), "cpu_s": round(cpu, 1)}
    figure["exit"] = done.returncode
    print(label, figure, file=sys.stderr, flush=True)
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    big = make(
        args.records, default_path(args.records, args.files, True), files=args.files, blobs=True
    )
    out: dict[str, object] = {"records": args.records}
    out["first"] = timed("first (cache built)", big)
    out["unchanged"] = timed("nothing changed", big)
    saved = snapshot(big)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "photos"], cwd=big, capture_output=True, text=True, check=True
        ).stdout.split()
        path = big / next(rel for rel in listed if rel.endswith(".json"))
        record = json.loads(path.read_text(encoding="utf-8"))
        record["metadata"]["caption"] = "edited by hand"
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        subprocess.run(["git", "commit", "-qam", "a hand edit"], cwd=big, check=True)
        out["after_an_edit"] = timed("after one committed edit", big)
        out["unchanged_again"] = timed("nothing changed again", big)
    finally:
        restore(big, saved)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
