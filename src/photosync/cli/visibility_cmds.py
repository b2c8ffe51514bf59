"""visibility set."""

from __future__ import annotations

import click
from rich.markup import escape

from photosync.cli._common import (
    Settings,
    console,
    handle_errors,
    pass_settings,
    user_name,
    writing,
)
from photosync.model import Visibility
from photosync.workflow.visibility import apply_visibility, plan_visibility, resolve_photo_ids


@click.group()
def visibility() -> None:
    """See and change who can see photos (widening always asks)."""


@visibility.command("set")
@click.argument("photos", nargs=-1, required=True)
@click.argument("level", type=click.Choice([v.value for v in Visibility]))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (the approval is still recorded).")
@click.option("--reason", help="Why, kept with the approval in the record.")
@pass_settings
@handle_errors
def set_(settings: Settings, photos: tuple[str, ...], level: str, yes: bool, reason: str | None) -> None:
    """Set PHOTOS (ids or unique id prefixes) to LEVEL (private, friends, public)."""
    with writing(settings) as archive:
        changes = plan_visibility(archive, resolve_photo_ids(archive, list(photos)), Visibility(level))
        if not changes:
            console.print("nothing to change")
            return
        for change in changes:
            arrow = "[bold red]wider[/]" if change.widens else "narrower"
            console.print(f"  {change.photo_id[:8]} {escape(change.filename or '')}: {change.before} -> {change.after} ({arrow})")
        widening = [c for c in changes if c.widens]
        if widening and not yes and not click.confirm(f"Make {len(widening)} photo(s) visible more widely?", default=False):
            console.print("nothing changed")
            return
        apply_visibility(archive, changes, by=user_name(), reason=reason)
    console.print(f"{len(changes)} photo(s) changed; replicate applies it to the services")
