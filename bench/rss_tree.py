"""Run one command and sample its memory, photosync's own process apart from its children.

A process tree's peak RSS mixes photosync with the git it runs (``git update-index`` or
``git status`` of a million-entry index holds ~400 MB of its own); this tells them
apart, and anonymous memory (the heap) from file pages (mapped files, reclaimable):

    python bench/rss_tree.py photosync --archive A -q resolve --auto-resolve simple

Samples /proc ten times a second; prints a line every 30 s and the peaks at the end.
Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

FIELDS = ("VmRSS", "RssAnon", "RssFile")


def memory(pid: int) -> dict[str, int] | None:
    """RSS fields of a process in MB, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = status.read().splitlines()
    except OSError:
        return None
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in FIELDS:
            found[key] = int(value.split()[0]) // 1024
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as children:
                kids = [int(c) for c in children.read().split()]
        except OSError:
            continue
        for kid in kids:
            out.append(kid)
            out.extend(descendants(kid))
    return out


def command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as cmdline:
            return " ".join(cmdline.read().split("\0")[:4]).strip()
    except OSError:
        return "?"


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    started = time.monotonic()
    process = subprocess.Popen(argv)
    main_peak: dict[str, int] = {}
    child_peak: dict[str, int] = {}
    tree_peak = 0
    shown = started
    while process.poll() is None:
        own = memory(process.pid) or {}
        for key, value in own.items():
            main_peak[key] = max(main_peak.get(key, 0), value)
        tree = own.get("VmRSS", 0)
        for kid in descendants(process.pid):
            theirs = memory(kid)
            if theirs:
                tree += theirs["VmRSS"]
                name = command_of(kid)
                child_peak[name] = max(child_peak.get(name, 0), theirs["VmRSS"])
        tree_peak = max(tree_peak, tree)
        if time.monotonic() - shown > 30:
            shown = time.monotonic()
            print(f"t={shown - started:.0f}s own={own} tree={tree} MB", file=sys.stderr)
        time.sleep(0.1)  # a sampling period, not a synchronisation
    print(
        f"exit {process.returncode}, {time.monotonic() - started:.1f} s; peak MB: "
        f"own {main_peak}, tree {tree_peak}",
        file=sys.stderr,
    )
    for name, peak in sorted(child_peak.items(), key=lambda item: -item[1])[:5]:
        print(f"  child {peak} MB: {name}", file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
