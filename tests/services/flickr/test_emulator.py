"""The emulator speaks Flickr's protocol and rejects what Flickr would reject."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, unquote, urlencode

import pytest
import requests
from oauthlib.oauth1 import Client
from requests_oauthlib import OAuth1

from photosync.emulators.flickr import FlickrEmulator, FlickrState, hmac_sha1, signature_base

pytestmark = pytest.mark.timeout(60)


def rest(emulator: FlickrEmulator) -> str:
    return emulator.endpoints()["rest"]


def signed(state: FlickrState, perms: str = "write", **overrides: str) -> OAuth1:
    token, secret = state.issue_access_token(perms)
    values = {
        "client_secret": state.api_secret,
        "resource_owner_key": token,
        "resource_owner_secret": secret,
        **overrides,
    }
    return OAuth1(state.api_key, **values)


def test_signature_base_matches_rfc5849_example() -> None:
    # RFC 5849 section 3.4.1.1 / 3.4.2 worked example
    params = [
        ("b5", "=%3D"),
        ("a3", "a"),
        ("c@", ""),
        ("a2", "r b"),
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        ("c2", ""),
        ("a3", "2 q"),
    ]
    base = signature_base("POST", "http://example.com/request", params)
    assert base.startswith("POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q")
    assert "%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7" in base
    # the library the connector uses agrees with the emulator's independent HMAC-SHA1
    client = Client(
        "key",
        client_secret="secret",
        resource_owner_key="tok",
        resource_owner_secret="tsecret",
        timestamp="137131201",
        nonce="7d8f3e4a",
    )
    _, headers, _ = client.sign("http://127.0.0.1:1/services/rest/?method=x&a=b%20c")
    oauth = dict(
        (k, unquote(v))
        for k, v in (p.strip().split("=", 1) for p in headers["Authorization"][6:].split(","))
    )
    oauth = {k: v.strip('"') for k, v in oauth.items()}
    params2 = [("method", "x"), ("a", "b c")] + [
        (k, v) for k, v in oauth.items() if k != "oauth_signature"
    ]
    expected = hmac_sha1(
        signature_base("GET", "http://127.0.0.1:1/services/rest/", params2), "secret", "tsecret"
    )
    assert expected == oauth["oauth_signature"]


def test_json_xml_and_jsonp_formats(emulator: FlickrEmulator, state: FlickrState) -> None:
    auth = signed(state)
    body = requests.get(
        rest(emulator),
        params={"method": "flickr.test.login", "format": "json", "nojsoncallback": "1"},
        auth=auth,
        timeout=5,
    )
    assert body.json()["stat"] == "ok" and body.json()["user"]["id"] == state.nsid
    xml = requests.get(rest(emulator), params={"method": "flickr.test.login"}, auth=auth, timeout=5)
    assert xml.headers["Content-Type"].startswith("text/xml")
    assert '<rsp stat="ok"><user id="12345678@N00"><username>emulated-user</username>' in xml.text
    jsonp = requests.get(
        rest(emulator),
        params={"method": "flickr.test.login", "format": "json"},
        auth=auth,
        timeout=5,
    )
    assert jsonp.text.startswith("jsonFlickrApi(")


def test_oauth_problems_are_401_text_plain(emulator: FlickrEmulator, state: FlickrState) -> None:
    params = {"method": "flickr.test.login", "format": "json", "nojsoncallback": "1"}
    cases = {
        "signature_invalid": signed(state, client_secret="wrong-secret"),
        "consumer_key_unknown": OAuth1(
            "no-such-key",
            client_secret=state.api_secret,
            resource_owner_key="t",
            resource_owner_secret="s",
        ),
        "token_rejected": OAuth1(
            state.api_key,
            client_secret=state.api_secret,
            resource_owner_key="forged",
            resource_owner_secret="s",
        ),
        "timestamp_refused": signed(state, timestamp=str(int(time.time()) - 3600)),
    }
    for problem, auth in cases.items():
        reply = requests.get(rest(emulator), params=params, auth=auth, timeout=5)
        assert reply.status_code == 401, problem
        assert reply.headers["Content-Type"].startswith("text/plain")
        assert dict(parse_qsl(reply.text))["oauth_problem"] == problem


def test_a_replayed_nonce_is_refused(emulator: FlickrEmulator, state: FlickrState) -> None:
    auth = signed(state)
    request = requests.Request(
        "GET", rest(emulator), params={"method": "flickr.test.login"}, auth=auth
    ).prepare()
    with requests.Session() as session:
        assert session.send(request, timeout=5).status_code == 200
        replay = session.send(request, timeout=5)
    assert replay.status_code == 401 and "nonce_used" in replay.text


def test_tampered_parameters_break_the_signature(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    auth = signed(state)
    request = requests.Request(
        "GET", rest(emulator), params={"method": "flickr.test.login"}, auth=auth
    ).prepare()
    request.url = str(request.url) + "&extra=1"
    with requests.Session() as session:
        reply = session.send(request, timeout=5)
    assert reply.status_code == 401 and "signature_invalid" in reply.text


def test_permissions_are_enforced(emulator: FlickrEmulator, state: FlickrState) -> None:
    state.seed(1)
    photo_id = next(iter(state.photos))
    data = {
        "method": "flickr.photos.setPerms",
        "photo_id": photo_id,
        "is_public": "0",
        "is_friend": "0",
        "is_family": "0",
        "format": "json",
        "nojsoncallback": "1",
    }
    reply = requests.post(rest(emulator), data=data, auth=signed(state, "read"), timeout=5).json()
    assert reply == {
        "stat": "fail",
        "code": 99,
        "message": "User not logged in / Insufficient permissions",
    }
    assert state.photos[photo_id].privacy == (1, 0, 0)
    missing = {k: v for k, v in data.items() if k != "is_family"}
    reply = requests.post(rest(emulator), data=missing, auth=signed(state), timeout=5).json()
    assert reply["code"] == 2
    ok = requests.post(rest(emulator), data=data, auth=signed(state), timeout=5).json()
    assert ok["stat"] == "ok" and state.photos[photo_id].privacy == (0, 0, 0)


def test_unsigned_calls_need_a_known_key(emulator: FlickrEmulator, state: FlickrState) -> None:
    base = {"method": "flickr.test.login", "format": "json", "nojsoncallback": "1"}
    assert (
        requests.get(rest(emulator), params={**base, "api_key": "nope"}, timeout=5).json()["code"]
        == 100
    )
    assert (
        requests.get(rest(emulator), params={**base, "api_key": state.api_key}, timeout=5).json()[
            "code"
        ]
        == 99
    )


def test_paging_stops_past_max_page_and_counts_calls(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    state.seed(30)
    state.max_page = 2
    auth = signed(state)
    pages = []
    for page in (1, 2, 3):
        reply = requests.get(
            rest(emulator),
            params={
                "method": "flickr.people.getPhotos",
                "user_id": "me",
                "per_page": "10",
                "page": str(page),
                "format": "json",
                "nojsoncallback": "1",
            },
            auth=auth,
            timeout=5,
        ).json()
        pages.append(reply["photos"])
    assert [len(p["photo"]) for p in pages] == [10, 10, 0]
    assert pages[0]["total"] == "30" and pages[0]["pages"] == 3
    assert state.calls["flickr.people.getPhotos"] == 3


def test_free_account_hides_originals(state: FlickrState) -> None:
    free = FlickrState(pro=False)
    free.seed(3)
    with FlickrEmulator(free) as emulator:
        auth = signed(free)
        photo = next(iter(free.photos.values()))
        sizes = requests.get(
            rest(emulator),
            params={
                "method": "flickr.photos.getSizes",
                "photo_id": photo.id,
                "format": "json",
                "nojsoncallback": "1",
            },
            auth=auth,
            timeout=5,
        ).json()["sizes"]
        assert "Original" not in {s["label"] for s in sizes["size"]} and sizes["candownload"] == 0
        direct = requests.get(
            f"{emulator.url}/{photo.server}/{photo.id}_{photo.originalsecret}_o.jpg", timeout=5
        )
        assert direct.status_code == 404


def test_video_original_is_a_redirect(emulator: FlickrEmulator, state: FlickrState) -> None:
    state.seed(3, video_every=3)
    video = next(p for p in state.photos.values() if p.media == "video")
    sizes = requests.get(
        rest(emulator),
        params={
            "method": "flickr.photos.getSizes",
            "photo_id": video.id,
            "format": "json",
            "nojsoncallback": "1",
        },
        auth=signed(state),
        timeout=5,
    ).json()["sizes"]["size"]
    source = next(s["source"] for s in sizes if s["label"] == "Video Original")
    first = requests.get(source, allow_redirects=False, timeout=5)
    assert first.status_code == 302
    final = requests.get(source, timeout=5)
    assert final.content == video.content() and final.content[4:8] == b"ftyp"


def _signed_upload(
    emulator: FlickrEmulator,
    state: FlickrState,
    signed: dict[str, str],
    sent: dict[str, str],
    photo: tuple[str, bytes, str],
) -> requests.Response:
    """Upload ``photo`` with the fields ``sent``, signed (OAuth 1.0a) over ``signed``."""
    token, secret = state.issue_access_token("write")
    signer = Client(
        state.api_key,
        client_secret=state.api_secret,
        resource_owner_key=token,
        resource_owner_secret=secret,
    )
    url = emulator.endpoints()["upload"]
    _, headers, _ = signer.sign(
        url, "POST", urlencode(signed), {"Content-Type": "application/x-www-form-urlencoded"}
    )
    return requests.post(
        url,
        data=sent,
        files={"photo": photo},
        headers={"Authorization": headers["Authorization"]},
        timeout=5,
    )


def test_upload_signature_covers_every_field_but_the_photo(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    fields = {"title": "x", "is_public": "0", "is_friend": "0", "is_family": "0"}
    photo = ("a.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")
    tampered = _signed_upload(emulator, state, fields, {**fields, "is_public": "1"}, photo)
    assert tampered.status_code == 401 and "signature_invalid" in tampered.text
    good = _signed_upload(emulator, state, fields, fields, photo)
    assert good.status_code == 200 and "<photoid>" in good.text
    assert len(state.photos) == 1


def test_upload_without_privacy_flags_gets_the_account_default(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    fields = {"title": "t"}
    reply = _signed_upload(
        emulator, state, fields, fields, ("a.png", b"\x89PNG\r\n\x1a\nxx", "image/png")
    )
    assert reply.status_code == 200
    assert next(iter(state.photos.values())).privacy == state.default_privacy == (1, 0, 0)


def test_malformed_multipart_is_rejected(emulator: FlickrEmulator) -> None:
    reply = requests.post(
        emulator.endpoints()["upload"],
        data=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
        timeout=5,
    )
    assert reply.status_code == 400
    assert json.dumps(reply.text)  # plain text answer, no crash


def test_command_line_prints_url_and_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosync.emulators import flickr

    started: list[FlickrEmulator] = []

    def fake_serve(self: FlickrEmulator) -> None:
        started.append(self)
        self._httpd.server_close()

    monkeypatch.setattr(flickr.FlickrEmulator, "serve_forever", fake_serve)
    assert flickr.main(["--port", "0", "--seed-photos", "5"]) == 0
    out = capsys.readouterr().out
    assert (
        "http://127.0.0.1:" in out
        and flickr.DEFAULT_API_KEY in out
        and flickr.DEFAULT_API_SECRET in out
    )
    assert len(started[0].state.photos) == 5
