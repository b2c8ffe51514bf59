"""config/*.json: only known keys, nothing that looks like a credential, no secret echoed.

The allowlist is the schemas (``additionalProperties: false`` per service and
location type); a scan of values runs before every write and every commit; no
error message repeats a value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
import subprocess
import sys
from copy import deepcopy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from photosync.archive.archive import PREFERENCES_FILE, SERVICES_FILE, SYNC_STATE_FILE, Archive
from photosync.archive.schema import CONFIG_SCHEMAS, validate_config, validator
from photosync.errors import ConfigError, shown_url
from photosync.redaction import MASK, redact_text
from tests.helpers import assert_check_clean, git_clean, git_log

DATA = Path(__file__).parent.parent / "data" / "config-v1"


def _today() -> dict[str, Any]:
    """config/ as written by photosync before the allowlist (init, service add, storage add,
    discover), with every service and location type."""
    return {rel: json.loads((DATA / Path(rel).name).read_text()) for rel in CONFIG_SCHEMAS}


def _message(error: ConfigError) -> str:
    return f"{error} {error.hint or ''}"


def test_config_written_by_todays_code_still_loads(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    for rel, value in _today().items():
        (archive.root / rel).write_text(json.dumps(value, indent=2))
    archive.commit("config: as an older photosync wrote it", everything=True)
    assert set(archive.services()) == {"flickr", "fx", "gp", "lib", "takeout"}
    assert [loc["name"] for loc in archive.preferences()["blob_storage"]["locations"]] == [
        "local",
        "s3",
        "nas",
    ]
    assert archive.sync_state()["services"]["lib"]["last_full_listing_count"] == 3
    archive.close()
    assert_check_clean(archive.root)


def test_the_design_documents_preferences_are_accepted() -> None:
    design = {
        "default_visibility": "private",
        "auto_resolve": ["exact_duplicates", "quality_variants"],
        "blob_storage": {
            "primary": "local",
            "local_path": "./blobs",
            "s3_bucket": None,
            "b2_bucket": None,
        },
        "sync_preferences": {
            "download_originals": True,
            "max_parallel_downloads": 5,
            "incremental_sync_days": 30,
        },
    }
    validate_config(PREFERENCES_FILE, design)


# the holes as the issue lists them: each passed before the allowlist
SECRET = "hunter2-Zq8sX3vLmN0pR7tY"
HOLES = [
    (SERVICES_FILE, ("services", "flickr"), "oauth_token", SECRET),
    (SERVICES_FILE, ("services", "flickr"), "api_key", SECRET),
    (SERVICES_FILE, ("services", "gp"), "token", SECRET),
    (SERVICES_FILE, ("services", "lib"), "password", SECRET),
    (SERVICES_FILE, ("services", "gp"), "private_key", SECRET),
    (SERVICES_FILE, ("services", "gp"), "clientSecret", SECRET),
    (SERVICES_FILE, ("services", "gp"), "client_secret", SECRET),
    (PREFERENCES_FILE, ("blob_storage", "locations", 1), "aws_secret_access_key", SECRET),
    (PREFERENCES_FILE, ("sync_preferences",), "api_token", SECRET),
    (PREFERENCES_FILE, (), "password", SECRET),
    (SYNC_STATE_FILE, ("services", "lib"), "session", SECRET),
]


def _at(value: Any, where: tuple[Any, ...]) -> Any:
    for part in where:
        value = value[part]
    return value


@pytest.mark.parametrize(("rel", "where", "key", "secret"), HOLES)
def test_a_secret_under_any_key_is_refused_and_not_echoed(
    rel: str, where: tuple[Any, ...], key: str, secret: str
) -> None:
    config = _today()[rel]
    _at(config, where)[key] = secret
    with pytest.raises(ConfigError) as caught:
        validate_config(rel, config)
    assert secret not in _message(caught.value)
    assert key in str(caught.value)  # the key is named, so the user can find it


def test_user_and_password_in_an_endpoint_url_are_refused_and_not_echoed() -> None:
    config = _today()[SERVICES_FILE]
    config["services"]["flickr"]["endpoints"]["rest"] = "https://me:pa55-w0rd@api.flickr.com/x/"
    with pytest.raises(ConfigError) as caught:
        validate_config(SERVICES_FILE, config)
    assert "pa55-w0rd" not in _message(caught.value)
    assert "services/flickr/endpoints/rest" in str(caught.value)


def test_services_json_error_no_longer_echoes_the_secret(tmp_path: Path) -> None:
    """The CLI showed the whole offending entry, secret included."""
    archive = Archive.init(tmp_path / "a")
    archive.close()
    config = _today()[SERVICES_FILE]
    config["services"]["flickr"]["api_secret"] = SECRET
    (archive.root / SERVICES_FILE).write_text(json.dumps(config))
    shown = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive.root), "service", "list"],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 3, shown.stderr
    assert "api_secret" in shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive.root), "check", "--json"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 6  # check names the hand edit, and echoes no secret either
    # the commands refuse the file (exit 3 above): config_invalid, with no secret either
    kinds = sorted(p["kind"] for p in json.loads(checked.stdout)["problems"])
    assert kinds == ["config_invalid", "uncommitted_edit"]
    assert SECRET not in checked.stdout + checked.stderr
    subprocess.run(["git", "-C", str(archive.root), "checkout", "--", SERVICES_FILE], check=True)
    assert_check_clean(archive.root)


def test_a_hand_edited_secret_is_never_committed(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    root = archive.root
    before = git_log(root)
    prefs = json.loads((root / PREFERENCES_FILE).read_text())
    prefs["blob_storage"]["locations"][0]["path"] = "AKIAIOSFODNN7EXAMPLE"
    (root / PREFERENCES_FILE).write_text(json.dumps(prefs))
    with pytest.raises(ConfigError) as caught:
        archive.commit("config: everything", everything=True)
    assert "AKIAIOSFODNN7EXAMPLE" not in _message(caught.value)
    archive._touched[PREFERENCES_FILE] = set()
    with pytest.raises(ConfigError):
        archive.commit("config: touched")
    archive.close()
    assert git_log(root) == before
    shown = subprocess.run(["git", "-C", str(root), "log", "-p", "--all"], capture_output=True)
    assert b"AKIAIOSFODNN7EXAMPLE" not in shown.stdout
    # the user fixes it; the archive is consistent again
    subprocess.run(["git", "-C", str(root), "checkout", PREFERENCES_FILE], check=True)
    assert git_clean(root)
    assert_check_clean(root)


# -- for all inputs ---------------------------------------------------------------------------

# random keys and tokens as services issue them: the output of a hash, so every example is
# noise, however hypothesis shrinks the input (the heuristic misses ~1 in 10,000 of these;
# examples are derandomized so that the test cannot flake)
_seed = st.binary(min_size=1, max_size=16)
_random_token = st.tuples(_seed, st.integers(32, 48)).map(
    lambda p: base64.urlsafe_b64encode(hashlib.sha512(p[0]).digest()).decode()[: p[1]]
)
_hex = st.tuples(_seed, st.integers(32, 64)).map(lambda p: hashlib.sha256(p[0]).hexdigest()[: p[1]])
_upper = st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=16)
_url_text = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=12)
CREDENTIAL_VALUES = st.one_of(
    _random_token,
    _hex,
    _upper.map(lambda s: "AKIA" + s),
    _random_token.map(lambda s: "ya29." + s),
    _random_token.map(lambda s: "1//0" + s),
    _random_token.map(lambda s: "GOCSPX-" + s),
    _random_token.map(
        lambda s: f"-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----"
    ),
    st.tuples(_url_text, _url_text).map(lambda up: f"https://{up[0]}:{up[1]}@example.com/v1"),
    st.tuples(st.text(min_size=0, max_size=10), _random_token).map(lambda p: f"{p[0]} {p[1]}"),
)
_SECRET_WORDS = [
    "api_key",
    "api_secret",
    "secret",
    "client_secret",
    "oauth_token",
    "oauth_token_secret",
    "access_token",
    "refresh_token",
    "token",
    "password",
    "passwd",
    "private_key",
    "aws_secret_access_key",
    "secret_access_key",
    "session_token",
    "bearer",
]


def _spellings(word: str) -> st.SearchStrategy[str]:
    parts = word.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return st.sampled_from([word, word.upper(), word.replace("_", "-"), camel, camel.title()])


CREDENTIAL_KEYS = st.sampled_from(_SECRET_WORDS).flatmap(_spellings)


def _containers(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every object in a config file where a key could be written."""
    found = [where] if isinstance(value, dict) else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, item in items:
        found.extend(_containers(item, (*where, key)))
    return found


def _strings(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [where]
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    return [found for key, item in items for found in _strings(item, (*where, key))]


def _allowed_here(rel: str, config: Any, where: tuple[Any, ...], key: str) -> bool:
    """Is ``key`` a known key of that object? (then the value decides: tested apart)"""
    probe = deepcopy(config)
    _at(probe, where)[key] = _at(config, where).get(key, "x")
    errors = list(validator(CONFIG_SCHEMAS[rel]).iter_errors(probe))
    return not any(e.validator == "additionalProperties" for e in errors)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), rel=st.sampled_from(sorted(CONFIG_SCHEMAS)), key=CREDENTIAL_KEYS)
def test_any_credential_key_anywhere_is_refused_and_never_echoed(
    data: st.DataObject, rel: str, key: str
) -> None:
    config = _today()[rel]
    where = data.draw(st.sampled_from(_containers(config)), label="where")
    assume(not _allowed_here(rel, config, where, key))
    secret = data.draw(st.one_of(CREDENTIAL_VALUES, st.text(min_size=4, max_size=30)), label="v")
    _at(config, where)[key] = secret
    with pytest.raises(ConfigError) as caught:
        validate_config(rel, config)
    assert secret not in _message(caught.value)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), rel=st.sampled_from(sorted(CONFIG_SCHEMAS)), secret=CREDENTIAL_VALUES)
def test_any_credential_value_anywhere_is_refused_and_never_echoed(
    data: st.DataObject, rel: str, secret: str
) -> None:
    config = _today()[rel]
    where = data.draw(st.sampled_from(_strings(config)), label="where")
    container = _at(config, where[:-1])
    container[where[-1]] = secret
    with pytest.raises(ConfigError) as caught:
        validate_config(rel, config)
    assert secret not in _message(caught.value)
    for piece in secret.split():
        if len(piece) >= 20:  # the token, not the ordinary words around it
            assert piece not in _message(caught.value)


def test_the_allowlist_refuses_what_a_deny_list_would_miss() -> None:
    """A key nobody thought of is refused too, and named in the message."""
    config = _today()[SERVICES_FILE]
    config["services"]["lib"]["my_new_thing"] = 1
    with pytest.raises(ConfigError, match="my_new_thing"):
        validate_config(SERVICES_FILE, config)


@pytest.mark.parametrize(
    "value",
    [
        "/home/user/Takeout/takeout-20240315T101500Z-001.zip",
        "/mnt/NAS/Photos/FamilyArchive2019Backup",
        "/home/user/Pictures/iCloudPhotosDownloadedOn2023",
        "/Users/JohnSmith/Pictures/Photos Library.photoslibrary",
        "my-photo-archive-bucket-2024-eu-west-1",
        "/tmp/pytest-of-root/pytest-174/test_discover_reads_a_generate0",
        "https://s3.us-west-004.backblazeb2.com",
        "/mnt/NAS/Photos/year=2024/month=03",  # a partition-style folder, no query
        "https://photos.example.com/album/?page=2&sort=date&year=2024#top",
    ],
)
def test_ordinary_paths_names_and_dates_are_not_taken_for_credentials(value: str) -> None:
    """A Takeout part's name (a date and a time) was refused as a credential."""
    config = _today()[SERVICES_FILE]
    config["services"]["takeout"]["paths"] = [value]
    config["services"]["lib"]["path"] = value
    validate_config(SERVICES_FILE, config)


@pytest.mark.parametrize(
    "command",
    [
        ["service", "add", "f", "--type", "flickr", "--endpoint", "rest=http://me:{pw}@flickr.x/"],
        ["service", "add", "f", "--type", "flickr", "--endpoint", "rest=https://me:{pw}@flickr.x/"],
        [
            "service",
            "add",
            "g",
            "--type",
            "google-photos",
            "--endpoint",
            "library=http://me:{pw}@g.x/",
        ],
        [
            "storage",
            "add",
            "s",
            "--type",
            "s3",
            "--bucket",
            "b",
            "--endpoint",
            "http://me:{pw}@s3.x",
        ],
        [
            "storage",
            "add",
            "s",
            "--type",
            "s3",
            "--bucket",
            "b",
            "--endpoint",
            "https://me:{pw}@s3.x",
        ],
    ],
    ids=["flickr-http", "flickr-https", "google-http", "s3-http", "s3-https"],
)
def test_a_password_in_an_endpoint_is_refused_and_never_printed(
    tmp_path: Path, command: list[str]
) -> None:
    """The endpoint checks printed the whole URL, password included."""
    password = "Pa55-w0rd-x9"
    root = Archive.init(tmp_path / "a").root
    shown = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root)]
        + [part.format(pw=password) for part in command]
        + (["--no-check"] if command[0] == "storage" else []),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 3, shown.stdout + shown.stderr
    assert password not in shown.stdout + shown.stderr
    assert password not in (root / SERVICES_FILE).read_text()
    assert password not in (root / PREFERENCES_FILE).read_text()
    assert_check_clean(root)


# -- a credential's NAME in a URL makes its value a credential, whatever the value's shape -----

_PARAM_WORDS = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "signature",
    "sig",
    "x_amz_credential",
    "x_amz_signature",
    "x_amz_security_token",
    "oauth_token",
    "oauth_signature",
    "client_secret",
    "auth",
    "session",
    "code",
]
CREDENTIAL_PARAMS = st.sampled_from(_PARAM_WORDS).flatmap(_spellings)
_BASES = [
    "http://127.0.0.1:8765/services/rest/",
    "https://s3.eu-west-1.amazonaws.com",
    "https://photoslibrary.googleapis.com/v1",
]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    name=CREDENTIAL_PARAMS,
    value=st.text(min_size=1, max_size=40),
    base=st.sampled_from(_BASES),
    before=st.sampled_from(["?", "?page=2&", "?format=json;", "#", "?a=1#"]),
)
def test_a_credential_named_url_parameter_is_refused_and_masked_whatever_its_value(
    name: str, value: str, base: str, before: str
) -> None:
    """``?password=hunter2`` was accepted: values were judged by their shape only."""
    url = f"{base}{before}{name}={quote(value, safe='')}"
    config = _today()[SERVICES_FILE]
    config["services"]["flickr"]["endpoints"]["rest"] = url
    with pytest.raises(ConfigError) as caught:
        validate_config(SERVICES_FILE, config)
    assert "services/flickr/endpoints/rest" in str(caught.value)
    assert f"{name}={quote(value, safe='')}" not in _message(caught.value)
    # the same rule masks it wherever photosync shows or logs a URL
    assert redact_text(url) == f"{base}{before}{name}={MASK}"
    assert shown_url(url) == repr(f"{base}{before}{name}={MASK}")


_FLICKR = ["service", "add", "f", "--type", "flickr", "--target", "--endpoint"]
_GOOGLE = ["service", "add", "g", "--type", "google-photos", "--endpoint"]
_S3 = ["storage", "add", "s3x", "--type", "s3", "--bucket", "b"]
_SECRET_IN_QUERY = [
    *[
        ([*_FLICKR, "rest={base}?{q}"], q)
        for q in (
            "password=hunter2",
            "secret=CorrectHorseBatteryStaple",
            "api_key=d41d8cd98f00b204",
            "oauth_token=TOKSECRET987654321",
        )
    ],
    ([*_GOOGLE, "library={base}#{q}"], "access_token=Fragment0Token"),
    (["service", "add", "l", "--type", "local", "--path", "/tmp/x?{q}"], "token=LocalPath1"),
    *[
        ([*_S3, *no_check, "--endpoint", "{s3}?{q}"], q)
        for q in (
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE&X-Amz-Signature=abcdef0123456789abcdef",
            "X-Amz-Security-Token=FwoGZXIvYXdzShort",
        )
        for no_check in ([], ["--no-check"])
    ],
]


@pytest.mark.parametrize(("command", "query"), _SECRET_IN_QUERY)
def test_a_credential_in_a_url_query_is_refused_and_never_shown(
    tmp_path: Path, command: list[str], query: str
) -> None:
    """Each was accepted (exit 0) and committed to git, or its S3 error printed the key."""
    root = Archive.init(tmp_path / "a").root
    args = [
        part.format(base="http://127.0.0.1:8765/services/rest/", s3="http://127.0.0.1:9/", q=query)
        for part in command
    ]
    shown = subprocess.run(
        [sys.executable, "-m", "photosync", "-vv", "--archive", str(root), *args],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 3, shown.stdout + shown.stderr
    logs = "".join(
        path.read_text(errors="replace") for path in (root / ".photosync").rglob("*.log")
    )
    history = subprocess.run(
        ["git", "-C", str(root), "log", "-p", "--all"], capture_output=True, text=True
    ).stdout
    config = "".join((root / rel).read_text() for rel in CONFIG_SCHEMAS)
    for pair in query.split("&"):
        value = pair.partition("=")[2]
        for where in (shown.stdout, shown.stderr, logs, history, config):
            assert value not in where
    assert_check_clean(root)


_ARCHIVE_FOR_ALL: list[Path] = []
_ADD_FLICKR = ["service", "add", "f", "--type", "flickr", "--target", "--endpoint"]


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=CREDENTIAL_PARAMS,
    value=st.text(string.ascii_letters + string.digits, min_size=10, max_size=30),
)
def test_any_credential_named_parameter_never_reaches_output_logs_or_git(
    tmp_path: Path, name: str, value: str
) -> None:
    """The CLI end to end, for all credential names: refused, and the value is nowhere."""
    if not _ARCHIVE_FOR_ALL:  # one archive for every example: each add is refused
        _ARCHIVE_FOR_ALL.append(Archive.init(tmp_path / "a").root)
    root = _ARCHIVE_FOR_ALL[0]
    assume(value not in Path(root).as_posix())
    url = f"rest=http://127.0.0.1:8765/services/rest/?format=json&{name}={value}"
    shown = subprocess.run(
        [sys.executable, "-m", "photosync", "-vv", "--archive", str(root), *_ADD_FLICKR, url],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 3, shown.stdout + shown.stderr
    logs = "".join(p.read_text(errors="replace") for p in (root / ".photosync").rglob("*.log"))
    history = subprocess.run(
        ["git", "-C", str(root), "log", "-p", "--all"], capture_output=True, text=True
    ).stdout
    assert value not in shown.stdout + shown.stderr + logs + history
    assert value not in (root / SERVICES_FILE).read_text()


def test_the_archive_of_the_cli_examples_is_still_consistent() -> None:
    """The archive every example above was refused in is as photosync left it."""
    if not _ARCHIVE_FOR_ALL:
        pytest.skip(
            "runs after test_any_credential_named_parameter_never_reaches_output_logs_or_git"
        )
    assert_check_clean(_ARCHIVE_FOR_ALL[0])


def test_check_reports_a_credential_committed_by_hand(tmp_path: Path) -> None:
    """A hand commit put ``?password=`` into config/: check said "all good"."""
    root = Archive.init(tmp_path / "a").root
    config = json.loads((root / SERVICES_FILE).read_text())
    config["services"]["f"] = {
        "type": "flickr",
        "enabled": True,
        "source": True,
        "target": True,
        "endpoints": {"rest": "http://127.0.0.1:8765/services/rest/?password=hunter2xyz"},
    }
    (root / SERVICES_FILE).write_text(json.dumps(config, indent=2))
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "by hand"], check=True)
    checked = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "check", "--json"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 6, checked.stdout + checked.stderr
    problems = json.loads(checked.stdout)["problems"]
    # the commands refuse the file too: config_invalid beside it, naming the file
    assert sorted(p["kind"] for p in problems) == ["config_invalid", "config_secret"]
    (secret,) = [p for p in problems if p["kind"] == "config_secret"]
    assert "services/f/endpoints/rest" in secret["detail"]
    assert "git commit" in secret["fix"]
    assert "hunter2xyz" not in checked.stdout + checked.stderr
    # the fix it names: remove it by hand, commit
    del config["services"]["f"]
    (root / SERVICES_FILE).write_text(json.dumps(config, indent=2))
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "secret removed"], check=True)
    assert_check_clean(root)
