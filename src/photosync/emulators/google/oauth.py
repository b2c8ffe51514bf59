"""Google OAuth 2.0 as the emulator speaks it: the consent page (approved at once,
302 to the loopback redirect), PKCE S256, codes, refresh and access tokens.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from photosync.emulators.google.plumbing import HandlerBase, Reply
from photosync.emulators.google.state import KNOWN_SCOPES, REMOVED_SCOPES, USER


def _b64url_sha256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip("=")


class OAuthRoutes(HandlerBase):
    """``/o/oauth2/auth`` and ``/token``."""

    def _authorize(self) -> None:
        state = self.state
        client_id = self._arg("client_id")
        redirect_uri = self._arg("redirect_uri") or ""
        if client_id not in state.clients:
            raise Reply(400, "Error 401: invalid_client", headers={"Content-Type": "text/plain"})
        target = urlsplit(redirect_uri)
        if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise Reply(400, "Error 400: redirect_uri_mismatch (loopback only)")

        def fail(error: str) -> None:
            query = urlencode({"error": error, "state": self._arg("state") or ""})
            raise Reply(302, None, headers={"Location": f"{redirect_uri}?{query}"})

        if self._arg("response_type") != "code":
            fail("unsupported_response_type")
        challenge = self._arg("code_challenge")
        if not challenge or self._arg("code_challenge_method") != "S256":
            fail("invalid_request")
        scopes = (self._arg("scope") or "").split()
        if not scopes or any(s in REMOVED_SCOPES or s not in KNOWN_SCOPES for s in scopes):
            fail("invalid_scope")
        code = "4/" + secrets.token_urlsafe(32)
        with state.lock:
            state.codes[code] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "scopes": scopes,
                "expires": state.now() + 600,
                "user": USER,
            }
        query = urlencode(
            {"code": code, "state": self._arg("state") or "", "scope": " ".join(scopes)}
        )
        raise Reply(302, None, headers={"Location": f"{redirect_uri}?{query}"})

    def _client(self, form: dict[str, str]) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
                client_id, _, secret = decoded.partition(":")
            except ValueError:
                pass
        if client_id is None or self.state.clients.get(client_id) != secret:
            raise Reply(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        return client_id

    def _token(self) -> None:
        state = self.state
        form = self._form()
        client_id = self._client(form)
        grant = form.get("grant_type")
        with state.lock:
            if grant == "authorization_code":
                code = state.codes.pop(form.get("code", ""), None)
                if code is None or code["expires"] <= state.now() or code["client_id"] != client_id:
                    raise Reply(
                        400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
                    )
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise Reply(
                        400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
                    )
                verifier = form.get("code_verifier", "")
                if (
                    not (43 <= len(verifier) <= 128)
                    or _b64url_sha256(verifier) != code["challenge"]
                ):
                    raise Reply(
                        400,
                        {"error": "invalid_grant", "error_description": "Invalid code verifier."},
                    )
                refresh = "1//" + secrets.token_urlsafe(32)
                state.refresh_tokens[refresh] = {
                    "client_id": client_id,
                    "scopes": code["scopes"],
                    "user": code["user"],
                }
                state.stats["token_grants"] += 1
                reply = self._grant(code["scopes"], code["user"])
                reply["refresh_token"] = refresh
                raise Reply(200, reply, headers={"Cache-Control": "no-store"})
            if grant == "refresh_token":
                stored = state.refresh_tokens.get(form.get("refresh_token", ""))
                if stored is None or stored["client_id"] != client_id:
                    raise Reply(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        },
                    )
                state.stats["refresh_grants"] += 1
                raise Reply(
                    200,
                    self._grant(stored["scopes"], stored["user"]),
                    headers={"Cache-Control": "no-store"},
                )
        raise Reply(
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": f"Invalid grant_type: {grant}",
            },
        )

    def _grant(self, scopes: list[str], user: str) -> dict[str, Any]:
        state = self.state
        token = "ya29." + secrets.token_urlsafe(40)
        lifetime = state.access_token_lifetime_s
        state.access_tokens[token] = {
            "scopes": scopes,
            "user": user,
            "expires": state.now() + lifetime,
        }
        return {
            "access_token": token,
            "expires_in": int(lifetime),
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
