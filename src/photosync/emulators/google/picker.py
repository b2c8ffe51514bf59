"""The Picker API: sessions a person completes at ``pickerUri``, and the picked items."""

from __future__ import annotations

from typing import Any

from photosync.emulators.google.plumbing import HandlerBase, Reply, google_error
from photosync.emulators.google.state import MAX_PAGE, SCOPE_PICKER, PickerSession, new_id, now_iso


class PickerRoutes(HandlerBase):
    """``/picker/v1/...``: sessions and their media items."""

    def _session_json(self, session: PickerSession) -> dict[str, Any]:
        state = self.state
        return {
            "id": session.id,
            "pickerUri": f"{self._origin()}/pick/{session.id}",
            "pollingConfig": {
                "pollInterval": f"{state.poll_interval_s:g}s",
                "timeoutIn": f"{max(0.0, session.created + state.session_timeout_s - state.now()):g}s",
            },
            "expireTime": now_iso(session.created + state.session_timeout_s),
            "mediaItemsSet": session.media_items_set,
        }

    def _session(self, session_id: str, user: str) -> PickerSession:
        session = self.state.sessions.get(session_id)
        if session is None or session.deleted or session.user != user:
            raise google_error(404, "NOT_FOUND", "session not found")
        if session.created + self.state.session_timeout_s <= self.state.now():
            raise google_error(400, "FAILED_PRECONDITION", "session has expired")
        return session

    def _picker(self, method: str, rest: str) -> None:
        token = self._bearer(frozenset({SCOPE_PICKER}))
        state = self.state
        if rest == "sessions" and method == "POST":
            session = PickerSession(id=new_id("S"), user=token["user"], created=state.now())
            with state.lock:
                state.sessions[session.id] = session
            raise Reply(200, self._session_json(session))
        if rest.startswith("sessions/"):
            session = self._session(rest[len("sessions/") :], token["user"])
            if method == "GET":
                raise Reply(200, self._session_json(session))
            if method == "DELETE":
                session.deleted = True
                raise Reply(200, {})
        if rest == "mediaItems" and method == "GET":
            session = self._session(self._arg("sessionId") or "", token["user"])
            if not session.media_items_set:
                raise google_error(400, "FAILED_PRECONDITION", "The user has not picked items yet.")
            size = self._page_size(self._arg("pageSize"), MAX_PAGE)
            start = int(self._arg("pageToken") or 0)
            chunk = session.picked[start : start + size]
            items = []
            for item_id in chunk:
                item = state.picker_library[item_id]
                kind = "VIDEO" if item.mime_type.startswith("video/") else "PHOTO"
                items.append(
                    {
                        "id": item.id,
                        "createTime": now_iso(item.created),
                        "type": kind,
                        "mediaFile": {
                            "baseUrl": self._base_url(item),
                            "mimeType": item.mime_type,
                            "filename": item.filename,
                            "mediaFileMetadata": {"width": 48, "height": 36},
                        },
                    }
                )
            reply: dict[str, Any] = {"mediaItems": items}
            if start + size < len(session.picked):
                reply["nextPageToken"] = str(start + size)
            raise Reply(200, reply)
