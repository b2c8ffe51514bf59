"""backup-archive: the archive's history to every location. recover: an archive from one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from photosync.blobstore.registry import make_blob_store
from photosync.cli._common import (
    Settings,
    console,
    err_console,
    handle_errors,
    pass_settings,
    print_json,
    writing,
)
from photosync.errors import ConfigError, ExitCode
from photosync.workflow.backup import BackupReport, backup_archive, recover_archive


@click.command("backup-archive")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def backup_archive_cmd(settings: Settings, as_json: bool) -> None:
    """Copy the archive's git history to every storage location.

    Each location outside the archive folder gets git bundles and a manifest
    under archive/ (records and config only: nothing secret), verified by
    SHA-256 and never overwritten, so that any one location is enough for
    `photosync recover`. Nothing is uploaded when a location already holds
    HEAD. replicate --execute does this at its end. Exit code 4 when a
    location could not be written (run again).
    """
    with writing(settings) as archive:
        report = backup_archive(archive)
    if as_json:
        print_json(report.to_json())
    else:
        show_backup(report)
    if not report.ok:
        sys.exit(ExitCode.PARTIAL)


def show_backup(report: BackupReport) -> None:
    if report.head is None:
        console.print("backup-archive: the archive has no commit yet")
        return
    if not report.locations:
        console.print(
            "backup-archive: no storage location outside the archive folder "
            "(add one with `photosync storage add`)"
        )
        return
    for name, done in sorted(report.locations.items()):
        if done.outcome == "failed":
            err_console.print(f"[red]failed[/] {escape(name)}: {escape(done.error or '')}")
        elif done.outcome == "up to date":
            console.print(f"{escape(name)}: up to date ({report.head[:10]})")
        else:
            kind = "full" if done.full else "incremental"
            console.print(
                f"{escape(name)}: copied up to {report.head[:10]} "
                f"({len(done.bundles)} {kind} bundle(s) uploaded)"
            )


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--type", "kind", required=True, type=click.Choice(["s3", "b2", "local"]), help="Location kind."
)
@click.option("--bucket", help="Bucket name (s3, b2).")
@click.option("--prefix", help="Key prefix the location uses in the bucket (s3, b2).")
@click.option("--endpoint", help="S3 API endpoint URL (s3, b2).")
@click.option("--region", help="Region (s3, b2).")
@click.option(
    "--addressing-style",
    type=click.Choice(["auto", "path", "virtual"]),
    help="Bucket in the path or in the host name.",
)
@click.option("--profile", help="AWS profile with the keys (from ~/.aws/).")
@click.option("--path", type=click.Path(path_type=Path), help="Folder (type local).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@handle_errors
def recover(
    dest: Path,
    kind: str,
    bucket: str | None,
    prefix: str | None,
    endpoint: str | None,
    region: str | None,
    addressing_style: str | None,
    profile: str | None,
    path: Path | None,
    as_json: bool,
) -> None:
    """Create the archive at DEST from one storage location alone, with its full history.

    \b
    Then, in DEST: `photosync restore` brings the originals back.
      photosync recover ~/photos --type s3 --bucket my-photos --prefix archive/
      photosync recover ~/photos --type local --path /mnt/nas/photo-blobs

    Keys come from the environment or --profile. A killed recover is finished
    by running the same command again.
    """
    spec: dict[str, Any] = {"type": kind}
    if kind == "local":
        if path is None:
            raise ConfigError("--type local needs --path FOLDER")
        if bucket or prefix or endpoint or region or addressing_style or profile:
            raise ConfigError("--bucket, --prefix, --endpoint, ... only apply to s3 and b2")
        spec["path"] = str(path.expanduser().resolve())
    else:
        if not bucket:
            raise ConfigError(f"--type {kind} needs --bucket")
        if path is not None:
            raise ConfigError("--path only applies to --type local")
        for key, value in (
            ("bucket", bucket),
            ("prefix", prefix),
            ("endpoint_url", endpoint),
            ("region", region),
            ("addressing_style", addressing_style),
            ("profile", profile),
        ):
            if value is not None:
                spec[key] = value
    store = make_blob_store("source", spec, dest.expanduser().resolve())
    report = recover_archive(dest, store)
    if as_json:
        print_json(report.to_json())
        return
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(
        f"recovered {escape(report.dest)}: {report.commits} commit(s) on {escape(report.branch)}, "
        f"HEAD {report.head[:10]}, from {report.bundles} bundle(s) in the copy at "
        f"{escape(report.location)}"
        + (" (an interrupted recover was finished)" if report.resumed else "")
    )
    console.print(f"next: cd {escape(report.dest)} && photosync restore")
