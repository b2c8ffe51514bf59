"""auth flickr / auth google-photos: tokens go to the keyring or a 0600 file, never the archive."""

from __future__ import annotations

import click
from rich.markup import escape

from photosync.cli._common import Settings, console, handle_errors, pass_settings, reading
from photosync.credentials import CredentialStore
from photosync.errors import ConfigError


@click.group()
def auth() -> None:
    """Authorise photosync on a service (tokens stay outside the archive)."""


def _service_settings(settings: Settings, name: str, expected: str) -> dict[str, object]:
    with reading(settings) as archive:
        services = archive.services()
    if name not in services:
        raise ConfigError(
            f"no service named {name!r}",
            hint=f"Add it first: photosync service add {name} --type {expected}",
        )
    if services[name]["type"] != expected:
        raise ConfigError(f"service {name!r} is of type {services[name]['type']}, not {expected}")
    return services[name]


@auth.command("flickr")
@click.option(
    "--service",
    "name",
    default="flickr",
    show_default=True,
    help="The Flickr service to authorise.",
)
@click.option(
    "--api-key",
    envvar="PHOTOSYNC_FLICKR_API_KEY",
    help="Your Flickr API key (or $PHOTOSYNC_FLICKR_API_KEY).",
)
@click.option(
    "--api-secret",
    envvar="PHOTOSYNC_FLICKR_API_SECRET",
    help="Its secret (asked for when not given).",
)
@pass_settings
@handle_errors
def flickr(settings: Settings, name: str, api_key: str | None, api_secret: str | None) -> None:
    """OAuth 1.0a with your own API key: read access for a source, write for a target, never delete."""
    from photosync.services.flickr.auth import run_oauth_flow

    entry = _service_settings(settings, name, "flickr")
    api_key = api_key or click.prompt("Flickr API key")
    api_secret = api_secret or click.prompt("Flickr API secret", hide_input=True)
    perms = "write" if entry.get("target") else "read"

    def ask_verifier(url: str) -> str:
        console.print(
            f"Open this page, approve photosync ({perms} access), and copy the code Flickr shows:"
        )
        click.echo(url)  # whole, on a line of its own: a wrapped URL cannot be pasted
        return str(click.prompt("Verifier code")).strip()

    store = CredentialStore()
    result = run_oauth_flow(
        api_key,
        api_secret,
        perms,
        entry.get("endpoints") or None,  # type: ignore[arg-type]
        ask_verifier,
        service_name=name,
        store=store,
    )
    user = result.get("username") or result.get("user_nsid") or "your account"
    console.print(
        f"Authorised {escape(str(user))} with {perms} access; tokens kept outside the archive."
    )


@auth.command("google-photos")
@click.option(
    "--service",
    "name",
    default="google-photos",
    show_default=True,
    help="The Google Photos service to authorise.",
)
@click.option(
    "--client-id", envvar="PHOTOSYNC_GOOGLE_CLIENT_ID", help="Your OAuth 'Desktop app' client id."
)
@click.option(
    "--client-secret",
    envvar="PHOTOSYNC_GOOGLE_CLIENT_SECRET",
    help="Its secret (asked for when not given).",
)
@click.option(
    "--timeout", default=300.0, show_default=True, help="Seconds to wait for the browser step."
)
@pass_settings
@handle_errors
def google_photos(
    settings: Settings, name: str, client_id: str | None, client_secret: str | None, timeout: float
) -> None:
    """OAuth 2.0 with PKCE and a loopback redirect; refresh tokens are stored for later runs."""
    from photosync.services.google.auth import GoogleAuth

    entry = _service_settings(settings, name, "google-photos")
    store = CredentialStore()
    saved = store.get(name) or {}
    client_id = client_id or saved.get("client_id") or click.prompt("Google OAuth client id")
    client_secret = (
        client_secret
        or saved.get("client_secret")
        or click.prompt("Google OAuth client secret", hide_input=True)
    )
    store.set(name, {**saved, "client_id": client_id, "client_secret": client_secret})

    def on_link(url: str) -> None:
        console.print("Open this page in your browser and allow access:")
        click.echo(url)  # whole, on a line of its own: a wrapped URL cannot be pasted
        click.launch(url)

    GoogleAuth.for_service(name, dict(entry), store=store).authorize(on_link, timeout=timeout)
    console.print("Authorised; tokens kept outside the archive.")
