"""visibility set."""

from __future__ import annotations

import click
from rich.markup import escape

from photosync.archive.archive import Archive
from photosync.cli._common import (
    Settings,
    console,
    handle_errors,
    pass_settings,
    reading,
    user_name,
    writing,
)
from photosync.model import Visibility
from photosync.workflow.visibility import (
    VisibilityChange,
    apply_visibility,
    export_key,
    import_key,
    plan_service_approvals,
    plan_visibility,
    resolve_photo_ids,
)


@click.group()
def visibility() -> None:
    """See and change who can see photos (widening always asks)."""


@visibility.command("set")
@click.argument("photos", nargs=-1, required=True)
@click.argument("level", type=click.Choice([v.value for v in Visibility]))
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (the approval is still recorded)."
)
@click.option("--reason", help="Why, kept with the approval in the record.")
@pass_settings
@handle_errors
def set_(
    settings: Settings, photos: tuple[str, ...], level: str, yes: bool, reason: str | None
) -> None:
    """Set PHOTOS (ids or unique id prefixes) to LEVEL (private, friends, public)."""
    with writing(settings) as archive:
        changes = plan_visibility(
            archive, resolve_photo_ids(archive, list(photos)), Visibility(level)
        )
        if not _confirm_and_apply(archive, changes, yes=yes, reason=reason):
            return
    console.print(f"{len(changes)} photo(s) changed; replicate applies it to the services")


@visibility.command("approve")
@click.option(
    "--service", "service_name", required=True, help="Adopt the level this service shows."
)
@click.argument("photos", nargs=-1)
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (the approval is still recorded)."
)
@click.option("--reason", help="Why, kept with each approval.")
@pass_settings
@handle_errors
def approve(
    settings: Settings, service_name: str, photos: tuple[str, ...], yes: bool, reason: str | None
) -> None:
    """Approve, for PHOTOS (default: all), the wider level SERVICE already shows them with."""
    with writing(settings) as archive:
        ids = resolve_photo_ids(archive, list(photos)) if photos else None
        changes = plan_service_approvals(archive, service_name, ids)
        if not _confirm_and_apply(
            archive, changes, yes=yes, reason=reason or f"as on {service_name}"
        ):
            return
    console.print(f"{len(changes)} photo(s) approved at the level {escape(service_name)} shows")


def _confirm_and_apply(
    archive: Archive, changes: list[VisibilityChange], *, yes: bool, reason: str | None
) -> bool:
    if not changes:
        console.print("nothing to change")
        return False
    for change in changes[:50]:
        arrow = "[bold red]wider[/]" if change.widens else "narrower"
        console.print(
            f"  {change.photo_id[:8]} {escape(change.filename or '')}: {change.before} -> {change.after} ({arrow})"
        )
    if len(changes) > 50:
        console.print(f"  ... and {len(changes) - 50} more")
    widening = [c for c in changes if c.widens]
    if (
        widening
        and not yes
        and not click.confirm(f"Make {len(widening)} photo(s) visible more widely?", default=False)
    ):
        console.print("nothing changed")
        return False
    apply_visibility(archive, changes, by=user_name(), reason=reason)
    return True


@visibility.group("key")
def key() -> None:
    """The key that seals approvals (kept in the keyring or credentials file, never in git)."""


@key.command("show")
@pass_settings
@handle_errors
def key_show(settings: Settings) -> None:
    """The fingerprint of this archive's approval key here (never the key)."""
    with reading(settings) as archive:
        fingerprint = archive.seals.fingerprint()
    console.print(f"approval key: {fingerprint or 'none on this machine'}")


@key.command("export")
@click.option("--reveal", is_flag=True, help="Really print the secret key on stdout.")
@pass_settings
@handle_errors
def key_export(settings: Settings, reveal: bool) -> None:
    """Print the approval key, to copy it to another clone with `visibility key import`."""
    if not reveal:
        raise click.UsageError(
            "the approval key is a secret: pass --reveal to print it "
            "(e.g. photosync visibility key export --reveal | ssh other photosync visibility key import)"
        )
    with reading(settings) as archive:
        secret = export_key(archive)
    click.echo(secret)


@key.command("import")
@pass_settings
@handle_errors
def key_import(settings: Settings) -> None:
    """Read an approval key on stdin and keep it for this archive on this machine."""
    text = click.get_text_stream("stdin").read()
    with reading(settings) as archive:
        new, before = import_key(archive, text)
    if before is not None and before != new:
        console.print(
            f"approval key {new} kept; it replaces {before}: approvals sealed with that one "
            "no longer count (those photos wait at private until approved again)"
        )
    else:
        console.print(f"approval key {new} kept; approvals sealed with it count here")
