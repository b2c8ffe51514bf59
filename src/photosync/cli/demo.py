"""``photosync demo``: the whole flow on an embedded default, no accounts needed."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

import click
from rich.markup import escape
from rich.rule import Rule

from photosync.cli._common import console, handle_errors
from photosync.emulators.samples import make_demo_library


def _run(args: list[str]) -> int:
    """Run one photosync command in-process, exactly as a user would type it."""
    from photosync.cli import cli

    console.print(Rule(style="dim"))
    console.print(f"[bold]$ photosync {escape(shlex.join(args))}[/]")
    try:
        cli.main(args=args, prog_name="photosync", standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@click.command()
@click.option("--keep", type=click.Path(path_type=Path), help="Build the demo here and keep it (default: a temporary folder).")
@handle_errors
def demo(keep: Path | None) -> None:
    """Run discover -> resolve -> replicate -> status on sample photos in a temporary archive."""
    with tempfile.TemporaryDirectory(prefix="photosync-demo-") as tmp:
        base = keep.resolve() if keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        library = make_demo_library(base / "library")
        archive = base / "archive"
        console.print(f"Sample photos in {escape(str(base / 'library'))}; archive in {escape(str(archive))}")
        steps = [
            ["init", str(archive)],
            ["--archive", str(archive), "service", "add", "phone", "--type", "local", "--path", str(library.phone)],
            ["--archive", str(archive), "service", "add", "laptop", "--type", "local", "--path", str(library.laptop)],
            ["--archive", str(archive), "service", "add", "backup-drive", "--type", "local", "--path", str(base / "backup-drive"), "--target", "--no-source"],
            ["--archive", str(archive), "discover"],
            ["--archive", str(archive), "resolve", "--auto-resolve", "simple"],
            ["--archive", str(archive), "resolve", "--list"],
            ["--archive", str(archive), "replicate", "--dry-run"],
            ["--archive", str(archive), "replicate", "--execute"],
            ["--archive", str(archive), "discover"],
            ["--archive", str(archive), "status"],
            ["--archive", str(archive), "audit", "--visibility-check"],
        ]
        failures = 0
        for args in steps:
            code = _run(args)
            # discover reports the deliberately broken sample with exit 4
            failures += code not in (0, 4)
        console.print(Rule(style="dim"))
        console.print("git history of the archive (the audit trail):")
        import subprocess

        log = subprocess.run(["git", "-C", str(archive), "log", "--oneline"], capture_output=True, text=True, check=False)
        console.print(escape(log.stdout))
        if failures:
            raise SystemExit(1)
        console.print("[green]demo finished[/]" + (f"; kept in {escape(str(base))}" if keep else ""))
