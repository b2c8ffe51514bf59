"""Cost per photo against archive size, and the daily commands on a big archive.

    python bench/bench_scale.py                       # 1,000,000 records (generated once, cached)
    python bench/bench_scale.py --records 100000 --rounds 3

1. Adding photos: ``photosync discover`` of the same new photos (``--add``,
   2,000 x 20 KB JPEGs) into an empty archive and into the N-record one,
   interleaved, ``--rounds`` times; each run is undone afterwards (git reset
   and the state cache copied back). Target: big / empty <= 1.5.
2. Daily commands on the N-record archive, each timed once as the user runs it:
   ``status``, a no-op ``discover`` of the 100,000 files the synthetic source
   holds, ``resolve --dry-run``, ``replicate`` (a plan), ``check``. Targets:
   status < 2 s, no-op discover < 5 s, resolve/replicate < 5 s, check < 30 s.

Every figure is a whole command in its own process (start-up included), with
its CPU seconds (user + system, git children included: on a shared machine the
wall time mostly says how busy the others were) and the peak RSS of that child (``RUSAGE_CHILDREN``, measured in a fresh helper
process per run so runs do not mask each other).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_discover import generate
from make_synthetic_archive import default_path, make, restore, snapshot

_RUNNER = (
    "import resource,subprocess,sys,time;t=time.perf_counter();"
    "rc=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE).returncode;"
    "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(time.perf_counter()-t,u.ru_maxrss*1024,rc,u.ru_utime+u.ru_stime)"
)
#: CPU seconds (user + system) of the last ``timed`` run: on a shared machine the wall
#: time mostly says how busy the others were
last_cpu: list[float] = [0.0]


def timed(args: list[str], archive: Path, timeout: float = 3600) -> tuple[float, int, int]:
    """Wall time, peak RSS (bytes) and exit code of ``photosync ARGS`` as a child process."""
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RUNNER,
            sys.executable,
            "-m",
            "photosync",
            "--archive",
            str(archive),
            "-q",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # on a timeout the photosync it started goes too
    )
    try:
        stdout, _ = runner.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        raise
    seconds, rss, rc, cpu = stdout.split()
    last_cpu[0] = float(cpu)
    return float(seconds), int(rss), int(rc)


def _photosync(archive: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive), *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _empty_archive(path: Path) -> Path:
    if not (path / "config" / "services.json").exists():
        subprocess.run(
            [sys.executable, "-m", "photosync", "init", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def _with_new_service(archive: Path, folder: Path) -> None:
    services = json.loads((archive / "config" / "services.json").read_text())
    if "new" not in services["services"]:
        _photosync(archive, "service", "add", "new", "--type", "local", "--path", str(folder))


def adding(big: Path, empty: Path, folder: Path, count: int, rounds: int) -> dict[str, object]:
    for archive in (empty, big):
        _with_new_service(archive, folder)
    saved = {archive: snapshot(archive) for archive in (empty, big)}
    runs: dict[str, list[float]] = {"empty": [], "big": []}
    cpu: dict[str, list[float]] = {"empty": [], "big": []}
    rss: dict[str, int] = {"empty": 0, "big": 0}
    for _ in range(rounds):
        for label, archive in (("empty", empty), ("big", big)):
            seconds, peak, rc = timed(["discover", "--service", "new"], archive)
            if rc != 0:
                raise SystemExit(f"discover into the {label} archive exited {rc}")
            runs[label].append(seconds)
            cpu[label].append(last_cpu[0])
            rss[label] = max(rss[label], peak)
            restore(archive, saved[archive])
    best = {label: min(times) for label, times in runs.items()}
    return {
        "photos_added": count,
        "empty_s": runs["empty"],
        "big_s": runs["big"],
        "ratio_min": best["big"] / best["empty"],
        "empty_cpu_s": cpu["empty"],
        "big_cpu_s": cpu["big"],
        "ratio_median": statistics.median(runs["big"]) / statistics.median(runs["empty"]),
        "peak_rss_mb": {label: peak / 1e6 for label, peak in rss.items()},
    }


def daily(big: Path, timeout: float = 900) -> dict[str, object]:
    saved = snapshot(big)
    out: dict[str, object] = {}
    for label, args in (
        ("status", ["status"]),  # the first after a build reads every record once
        ("status_again", ["status"]),
        ("noop_discover", ["discover", "--service", "synth"]),
        ("resolve_dry_run", ["resolve", "--dry-run"]),
        # the first reads and writes every record; the second finds nothing changed
        ("resolve", ["resolve", "--auto-resolve", "simple"]),
        ("resolve_again", ["resolve", "--auto-resolve", "simple"]),
        ("replicate_plan", ["replicate"]),
        ("check", ["check"]),
    ):
        try:
            seconds, peak, rc = timed(args, big, timeout)
        except subprocess.TimeoutExpired:
            out[label] = {"s": f"> {timeout:.0f}", "exit": "killed"}
            print(label, out[label], file=sys.stderr, flush=True)
            continue
        out[label] = {
            "s": round(seconds, 2),
            "cpu_s": round(last_cpu[0], 2),
            "peak_rss_mb": round(peak / 1e6),
            "exit": rc,
        }
        print(label, out[label], file=sys.stderr, flush=True)
    restore(big, saved)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100_000, help="no-op discover size")
    parser.add_argument("--add", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-daily", action="store_true")
    parser.add_argument("--skip-adding", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="per daily command (s)")
    parser.add_argument("--path", type=Path, default=None, help="where the big archive is kept")
    args = parser.parse_args()
    started = time.monotonic()
    big = make(
        args.records,
        args.path or default_path(args.records, args.files, True),
        files=args.files,
        blobs=True,
    )
    print(f"archive of {args.records} records: {big}", file=sys.stderr, flush=True)
    base = Path(os.environ.get("TMPDIR", "/tmp"))
    folder = base / f"photosync-bench-add-{args.add}"
    if not folder.is_dir():
        generate(folder, args.add, 20_000)
    result: dict[str, object] = {"records": args.records}
    if not args.skip_adding:
        empty = _empty_archive(base / f"photosync-bench-empty-{os.getpid()}")
        result["adding"] = adding(big, empty, folder, args.add, args.rounds)
        subprocess.run(["rm", "-rf", str(empty), f"{empty}-state.sqlite"], check=True)
        print(json.dumps(result["adding"]), file=sys.stderr, flush=True)
    if not args.skip_daily:
        result["daily"] = daily(big, args.timeout)
    result["bench_s"] = round(time.monotonic() - started)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
