"""``photosync web``: the review and browse pages, served to this machine only."""

from __future__ import annotations

import logging
import secrets
import threading
import webbrowser

import click

from photosync.cli._common import Settings, handle_errors, pass_settings
from photosync.cli.logsetup import run_log
from photosync.errors import PhotosyncError
from photosync.redaction import RedactingFilter, register_secret

HOST = "127.0.0.1"  # never another interface: the pages show private photos


@click.command("web")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: any free one)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in your browser.")
@pass_settings
@handle_errors
def web(settings: Settings, port: int, open_browser: bool) -> None:
    """Review conflicts with the pictures side by side, browse by time, place and album.

    Serves on 127.0.0.1 only; the address printed holds a token made for this run
    (anyone without it is refused). Decisions are written exactly as
    `photosync resolve --interactive` writes them; the archive is locked only while
    one is written, so other photosync commands keep working. Ctrl-C stops it.
    """
    # Flask, werkzeug and jinja2 load only for this command: every other photosync
    # command (and every start of one) would pay ~15% more start-up for them
    from werkzeug.serving import make_server

    from photosync.web.app import create_app, web_state

    archive = settings.archive()
    root = archive.root
    archive.close()
    token = secrets.token_urlsafe(32)
    register_secret(token)  # masked wherever photosync logs
    access = logging.getLogger("werkzeug")
    if settings.verbose < 2:  # werkzeug's access log: one line per thumbnail (and -vv shows it)
        access.setLevel(logging.WARNING)
    # its lines hold the address asked for, the first one with the token in it
    if not any(isinstance(f, RedactingFilter) for f in access.filters):
        access.addFilter(RedactingFilter())
    app = create_app(root, token=token, run_log=run_log)
    try:
        server = make_server(HOST, port, app, threaded=True)
    except (OSError, SystemExit) as error:
        # werkzeug says why on stderr and exits 1 (a bug's code) when it cannot bind
        why = error.strerror if isinstance(error, OSError) else "the port is taken or not allowed"
        raise PhotosyncError(
            f"cannot listen on {HOST}:{port}: {why}",
            hint="Choose another port with --port, or leave --port out to take any free one.",
        ) from None
    url = f"http://{HOST}:{server.server_port}/?token={token}"
    # the catalog (search, map, albums) is read once in the background while you open the page
    threading.Thread(target=web_state(app).catalog.entries, daemon=True).start()
    click.echo(f"photosync web for {root}")
    click.echo(f"open: {url}", nl=True)
    click.echo("(only this machine can connect; Ctrl-C stops)")
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
        web_state(app).thumbs.close()
