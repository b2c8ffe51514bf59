"""``GoogleHandler``: the routes of every part of the emulator, on one server."""

from __future__ import annotations

from photosync.emulators.google.downloads import DownloadRoutes
from photosync.emulators.google.library import LibraryRoutes
from photosync.emulators.google.oauth import OAuthRoutes
from photosync.emulators.google.picker import PickerRoutes
from photosync.emulators.google.plumbing import Reply


class GoogleHandler(OAuthRoutes, DownloadRoutes, PickerRoutes, LibraryRoutes):
    """Each part of the emulator is a set of routes on one handler (one server, one state)."""

    protocol_version = "HTTP/1.1"
    server_version = "GoogleEmulator/1.0"
    #: headers and body go out as separate writes; without this each reply waits
    #: for a delayed ACK (~40 ms)
    disable_nagle_algorithm = True

    def _route(self, method: str, path: str) -> None:
        if path == "/o/oauth2/auth" and method == "GET":
            self._authorize()
        if path == "/token" and method == "POST":
            self._token()
        if path.startswith("/media/") and method == "GET":
            self._download(path[len("/media/") :])
        if path.startswith("/picker/v1/"):
            self._picker(method, path[len("/picker/v1/") :])
        if path.startswith("/pick/") and method == "GET":
            # the pickerUri a person opens: here every library item is picked at once
            session_id = path[len("/pick/") :]
            if session_id not in self.state.sessions:
                raise Reply(404, "no such picking session")
            self.state.pick(session_id)
            raise Reply(200, "Picked. You can close this window.")
        if path.startswith("/v1/"):
            self._library(method, path[len("/v1/") :])
