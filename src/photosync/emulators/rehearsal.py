"""A rehearsal: the Flickr and Google emulators running, authorised through the real flows.

The demo uses it, and so can a user who wants to try photosync's service
connectors end to end before pointing them at real accounts. The "browser"
steps (approving on Flickr's page, Google's consent screen) are done by small
functions here that follow the emulators' auto-approving pages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests

from photosync.credentials import CredentialStore
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.google import GoogleEmulator, GoogleState


def flickr_browser(url: str) -> str:
    """Open Flickr's authorise page (the emulator approves) and read the verifier shown."""
    reply = requests.get(url, timeout=10)
    reply.raise_for_status()
    return dict(parse_qsl(reply.text))["oauth_verifier"]


def google_browser(url: str) -> None:
    """Open Google's consent page; it redirects to photosync's loopback listener."""
    threading.Thread(target=lambda: requests.get(url, timeout=10), daemon=True).start()


@dataclass
class Rehearsal:
    flickr: FlickrEmulator
    google: GoogleEmulator
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stop(self) -> None:
        self.flickr.stop()
        self.google.stop()


def start_rehearsal(*, flickr_photos: int = 12, flickr_pro: bool = True) -> Rehearsal:
    """Start both emulators on free loopback ports, Flickr seeded with ``flickr_photos``."""
    state = FlickrState(pro=flickr_pro)
    state.seed(flickr_photos)
    flickr = FlickrEmulator(state).start()
    google = GoogleEmulator(GoogleState()).start()
    settings = {
        "flickr": {
            "type": "flickr",
            "enabled": True,
            "target": True,
            "source": True,
            "endpoints": flickr.endpoints(),
        },
        "google-photos": {
            "type": "google-photos",
            "enabled": True,
            "target": True,
            "source": False,
            "endpoints": google.endpoints(),
        },
    }
    return Rehearsal(flickr, google, settings)


def authorise(rehearsal: Rehearsal, store: CredentialStore | None = None) -> None:
    """Run the real OAuth 1.0a (Flickr) and OAuth 2.0 + PKCE (Google) flows against the emulators."""
    from photosync.services.flickr.auth import run_oauth_flow
    from photosync.services.google.auth import GoogleAuth

    store = store or CredentialStore()
    state = rehearsal.flickr.state
    run_oauth_flow(
        state.api_key,
        state.api_secret,
        "write",
        rehearsal.flickr.endpoints(),
        flickr_browser,
        service_name="flickr",
        store=store,
    )
    client_id, client_secret = next(iter(rehearsal.google.state.clients.items()))
    store.set("google-photos", {"client_id": client_id, "client_secret": client_secret})
    GoogleAuth.for_service(
        "google-photos", rehearsal.settings["google-photos"], store=store
    ).authorize(google_browser, timeout=30)


def sample_takeout(out: Path, photos: list[Path]) -> list[Path]:
    """A three-part Takeout holding ``photos`` with every naming quirk; returns the parts."""
    from photosync.emulators.takeout import generate_takeout

    generate_takeout(out, photos, parts=3, fmt="zip", locale="de", seed=1)
    return sorted(p for p in out.rglob("*") if p.suffix in (".zip", ".tgz"))
