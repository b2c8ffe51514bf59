"""``photosync demo``: the whole flow on an embedded default, no accounts needed."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import click
from rich.markup import escape
from rich.rule import Rule

from photosync.cli._common import Settings, console, handle_errors


def _run(args: list[str]) -> int:
    """Run one photosync command in-process, exactly as a user would type it."""
    from photosync.cli import cli

    console.print(Rule(style="dim"))
    console.print(f"[bold]$ photosync {escape(shlex.join(args))}[/]")
    outer = click.get_current_context(silent=True)
    settings = outer.find_object(Settings) if outer is not None else None
    verbose = ["-v"] * settings.verbose if settings is not None else []  # photosync -v demo
    try:
        cli.main(args=[*verbose, *args], prog_name="photosync", standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def web_command(base: Path) -> str:
    """The command that opens the demo's archive in `photosync web` (its own key folder:
    the demo's approvals are sealed with the key kept there)."""
    return shlex.join(
        [
            f"PHOTOSYNC_CONFIG_DIR={base / 'user-config'}",
            "PHOTOSYNC_KEYRING=file",
            "photosync",
            "--archive",
            str(base / "archive"),
            "web",
            "--open",
        ]
    )


@click.command()
@click.option(
    "--keep",
    type=click.Path(path_type=Path),
    help="Build the demo here and keep it (default: a temporary folder).",
)
@click.option(
    "--no-services",
    is_flag=True,
    help="Local folders only, without the emulated Flickr and Google Photos.",
)
@handle_errors
def demo(keep: Path | None, no_services: bool) -> None:
    """Run the whole flow on sample photos in a temporary archive, no account needed.

    Two local folders, a backup folder, and (unless --no-services) Flickr and
    Google Photos played by photosync's bundled emulators on 127.0.0.1, reached
    through the same connectors, OAuth flows included, as the real services.
    """
    # imported here: the emulators cost every other command half a second of start-up
    from photosync.emulators.rehearsal import authorise, sample_takeout, start_rehearsal
    from photosync.emulators.samples import make_demo_library

    with tempfile.TemporaryDirectory(prefix="photosync-demo-") as tmp:
        base = keep.resolve() if keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        # the demo's tokens go to its own folder, never to the user's real config
        os.environ["PHOTOSYNC_CONFIG_DIR"] = str(base / "user-config")
        os.environ["PHOTOSYNC_KEYRING"] = "file"
        library = make_demo_library(base / "library")
        archive = base / "archive"
        console.print(
            f"Sample photos in {escape(str(base / 'library'))}; archive in {escape(str(archive))}"
        )
        a = ["--archive", str(archive)]
        steps = [
            ["init", str(archive)],
            [*a, "service", "add", "phone", "--type", "local", "--path", str(library.phone)],
            [*a, "service", "add", "laptop", "--type", "local", "--path", str(library.laptop)],
            [
                *a,
                "service",
                "add",
                "backup-drive",
                "--type",
                "local",
                "--path",
                str(base / "backup-drive"),
                "--target",
                "--no-source",
            ],
        ]
        rehearsal = None
        takeout_steps: list[list[str]] = []
        if not no_services:
            rehearsal = start_rehearsal(flickr_photos=8)
            console.print(
                f"Emulated Flickr at {rehearsal.flickr.url}, Google Photos at {rehearsal.google.url}"
            )
            for name, entry in rehearsal.settings.items():
                endpoints = [f"--endpoint={key}={url}" for key, url in entry["endpoints"].items()]
                role = ["--target"] + ([] if entry["source"] else ["--no-source"])
                steps.append(
                    [
                        *a,
                        "service",
                        "add",
                        name,
                        "--type",
                        entry["type"],
                        *role,
                        *endpoints,
                        "--requests-per-hour",
                        "1000000",
                    ]
                )
            parts = sample_takeout(base / "takeout", sorted(library.phone.rglob("*.jpg"))[:6])
            takeout_steps = [
                [*a, "discover", "--service", "google-photos", *[f"--takeout={p}" for p in parts]]
            ]
        failures = 0
        try:
            for args in steps:
                failures += _run(args) not in (0,)
            if rehearsal is not None:
                console.print(Rule(style="dim"))
                console.print(
                    "[bold]authorising photosync on the emulated Flickr (OAuth 1.0a) and Google (OAuth 2.0 + PKCE)[/]"
                )
                authorise(rehearsal)
            approve = (
                [
                    [
                        *a,
                        "visibility",
                        "approve",
                        "--service",
                        "flickr",
                        "--yes",
                        "--reason",
                        "demo: keep what I shared on Flickr",
                    ]
                ]
                if rehearsal
                else []
            )
            for args in [
                [*a, "discover"],
                *takeout_steps,
                # photos Flickr shows more widely than their private default: an explicit approval
                *approve,
                [*a, "resolve", "--auto-resolve", "simple"],
                [*a, "resolve", "--list"],
                [*a, "replicate", "--dry-run"],
                [*a, "replicate", "--execute"],
                [*a, "discover"],
                [*a, "status"],
                [*a, "audit", "--visibility-check"],
            ]:
                # discover reports the deliberately broken sample (exit 4); audit finds the
                # photos Flickr shows more widely than their private canonical level (exit 6)
                failures += _run(args) not in (0, 4, 6)
        finally:
            if rehearsal is not None:
                rehearsal.stop()
        console.print(Rule(style="dim"))
        console.print("git history of the archive (the audit trail):")
        log = subprocess.run(
            ["git", "-C", str(archive), "log", "--oneline"],
            capture_output=True,
            text=True,
            check=False,
        )
        console.print(escape(log.stdout))
        if failures:
            raise SystemExit(1)
        console.print(
            "What you saw is expected: discover reports the deliberately damaged samples "
            "(exit 4), resolve leaves them and a few real disagreements to you, and the audit "
            "lists copies shown more narrowly than their canonical level (Google Photos has "
            "no public sharing), which is safe."
        )
        if keep:
            console.print(
                f"The archive is kept in {escape(str(archive))}; try `photosync status` there."
            )
        console.print(
            f"Look at it in your browser, review and browse: {escape(web_command(base))}",
            soft_wrap=True,
        )
        if not keep:
            console.print("(this demo's folder goes away now: keep one with --keep FOLDER)")
        # the last line says how it went: nothing after it may read like a problem
        console.print("[green]demo finished: every step ran as expected[/]")
