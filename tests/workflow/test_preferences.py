"""config/user-preferences.json: every key of the design works or is refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photosync.archive.archive import PREFERENCES_FILE, Archive
from photosync.archive.preferences import DEFAULT_PREFERENCES, load_preferences
from photosync.errors import ConfigError
from photosync.services.local import LocalFolderService
from photosync.workflow import discover as discover_module
from photosync.workflow.discover import discover
from tests.helpers import assert_check_clean, make_library, new_archive, records, run_cli

# the design's own example ("Configuration Management"), verbatim
DESIGN_EXAMPLE: dict[str, Any] = {
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


def _write(archive: Archive, prefs: dict[str, Any]) -> None:
    """As a user would: edit the file, commit it with git."""
    (archive.root / PREFERENCES_FILE).write_text(json.dumps(prefs), encoding="utf-8")
    archive.git.run("add", "--", PREFERENCES_FILE)
    archive.git.run("commit", "-q", "-m", "config: test preferences", "--", PREFERENCES_FILE)


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    prefs = json.loads(json.dumps(DESIGN_EXAMPLE))
    here = prefs
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return prefs


def test_the_design_example_loads_and_works(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    make_library(library, 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    _write(archive, DESIGN_EXAMPLE)
    archive.lock()
    assert discover(archive).new == 3
    archive.close()
    stored = list((archive.root / "blobs" / "sha256").rglob("*"))
    assert sum(p.is_file() for p in stored) == 3
    assert_check_clean(archive.root)


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [
        (("default_visibility",), "public", "photosync visibility"),
        (("default_visibility",), "friends", "photosync visibility"),
        (("blob_storage", "s3_bucket"), "my-photos", "photosync storage add NAME --type s3"),
        (("blob_storage", "b2_bucket"), "my-photos", "photosync storage add NAME --type b2"),
        (("sync_preferences", "download_originals"), False, "originals"),
        (("sync_preferences", "max_parallel_downloads"), "five", "must be of type integer"),
        (("sync_preferences", "max_parallel_downloads"), 0, "must be at least 1"),
        (("sync_preferences", "incremental_sync_days"), 2.5, "must be of type integer"),
        (
            ("sync_preferences", "max_paralel_downloads"),
            3,
            "unknown key(s) 'max_paralel_downloads'",
        ),
        (("default_visibilty",), "private", "unknown key(s) 'default_visibilty'"),
        (("blob_storage",), "blobs", "blob_storage: must be of type object"),
    ],
)
def test_refused_on_load_with_what_to_do(
    tmp_path: Path, path: tuple[str, ...], value: Any, said: str
) -> None:
    library = tmp_path / "lib"
    make_library(library, 1)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    _write(archive, _with(path, value))
    result = run_cli("--archive", str(archive.root), "discover")
    assert result.exit_code == 3, result.output
    assert said in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert records(archive.root) == []  # nothing ran on a configuration it cannot honour
    _write(archive, DESIGN_EXAMPLE)  # fixed by hand: the archive is whole again
    assert_check_clean(archive.root)


def test_default_visibility_never_makes_a_new_photo_public(tmp_path: Path) -> None:
    """Privacy fails closed: the refusal happens before anything is recorded."""
    with pytest.raises(ConfigError, match="always private"):
        load_preferences(_with(("default_visibility",), "public"))


def test_local_path_alone_names_the_primary_store(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    make_library(library, 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    _write(archive, {"blob_storage": {"local_path": "store"}})
    archive.lock()
    assert discover(archive).new == 2
    archive.close()
    assert sum(p.is_file() for p in (archive.root / "store" / "sha256").rglob("*")) == 2
    assert not (archive.root / "blobs" / "sha256").exists() or not any(
        p.is_file() for p in (archive.root / "blobs" / "sha256").rglob("*")
    )
    assert_check_clean(archive.root)


def test_local_path_that_disagrees_with_the_locations_is_refused() -> None:
    prefs = json.loads(json.dumps(DEFAULT_PREFERENCES))
    prefs["blob_storage"]["local_path"] = "/mnt/elsewhere"
    with pytest.raises(ConfigError, match="local_path"):
        load_preferences(prefs)


def test_primary_that_names_no_local_location_is_refused() -> None:
    prefs = json.loads(json.dumps(DEFAULT_PREFERENCES))
    prefs["blob_storage"]["primary"] = "aws"
    with pytest.raises(ConfigError, match="not a local location"):
        load_preferences(prefs)


def test_primary_names_the_store_discover_writes_into(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    make_library(library, 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    prefs = json.loads(json.dumps(DEFAULT_PREFERENCES))
    prefs["blob_storage"]["locations"].append(
        {"name": "nas", "type": "local", "path": str(tmp_path / "nas")}
    )
    prefs["blob_storage"]["primary"] = "nas"
    del prefs["blob_storage"]["local_path"]
    _write(archive, prefs)
    archive.lock()
    assert discover(archive).new == 2
    archive.close()
    assert sum(p.is_file() for p in (tmp_path / "nas" / "sha256").rglob("*")) == 2
    for record in records(archive.root):
        assert record["source_of_truth_path"].startswith("nas:")
    assert_check_clean(archive.root)


def test_max_parallel_downloads_sets_the_workers_of_a_network_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder is read with hash_workers threads, a network service with max_parallel_downloads."""
    library = tmp_path / "lib"
    make_library(library, 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    _write(archive, _with(("sync_preferences", "max_parallel_downloads"), 3))
    seen: list[int] = []
    real = discover_module.bounded_map

    def spy(*args: Any, workers: int, **kwargs: Any) -> Any:
        seen.append(workers)
        return real(*args, workers=workers, **kwargs)

    monkeypatch.setattr(discover_module, "bounded_map", spy)
    archive.lock()
    discover(archive)
    monkeypatch.setattr(LocalFolderService, "over_network", True)
    discover(archive, full_scan=True)
    archive.close()
    assert seen == [DEFAULT_PREFERENCES["sync_preferences"]["hash_workers"], 3]
    assert_check_clean(archive.root)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_POSITIONS = [
    ("default_visibility",),
    ("auto_resolve",),
    ("blob_storage",),
    ("blob_storage", "primary"),
    ("blob_storage", "local_path"),
    ("blob_storage", "s3_bucket"),
    ("blob_storage", "locations"),
    ("sync_preferences",),
    *(("sync_preferences", key) for key in DEFAULT_PREFERENCES["sync_preferences"]),
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(position=st.sampled_from(_POSITIONS), value=_JSON)
def test_any_value_anywhere_loads_or_is_a_config_error(
    position: tuple[str, ...], value: Any
) -> None:
    """Wrong types are a clear error (exit 3), never a traceback."""
    try:
        prefs = load_preferences(_with(position, value))
    except ConfigError as error:
        assert str(error)
        return
    # what loads is what the code reads: the right types, and private
    assert prefs["default_visibility"] == "private"
    sync = prefs["sync_preferences"]
    for key in ("max_parallel_downloads", "max_parallel_uploads", "commit_every", "hash_workers"):
        assert isinstance(sync[key], int) and not isinstance(sync[key], bool) and sync[key] >= 1
    assert isinstance(sync["incremental_sync_days"], int) and sync["incremental_sync_days"] >= 0


def test_preferences_are_typed_once_per_version_of_the_file(tmp_path: Path) -> None:
    """Every default lives in DEFAULT_PREFERENCES; a hand edit (or a merge) is read again."""
    archive = new_archive(tmp_path)
    prefs = archive.prefs()
    assert prefs is archive.prefs()  # read and checked once
    defaults = DEFAULT_PREFERENCES["sync_preferences"]
    assert prefs.sync.commit_every == defaults["commit_every"]
    assert prefs.sync.max_parallel_uploads == defaults["max_parallel_uploads"]
    assert prefs.auto_resolve == frozenset(DEFAULT_PREFERENCES["auto_resolve"])
    assert prefs.primary_location == "local" and prefs.metadata_reader == "auto"
    _write(archive, {"sync_preferences": {"commit_every": 7, "hash_workers": 2.0}})
    again = archive.prefs()
    assert (again.sync.commit_every, again.sync.hash_workers) == (7, 2)
    assert isinstance(again.sync.hash_workers, int)
    assert_check_clean(archive.root)


def test_prefer_is_read_once_with_the_other_preferences(tmp_path: Path) -> None:
    """``prefer`` is typed like every key: none by default (a file written before it
    existed included), the user's order kept, and what resolve reads."""
    archive = new_archive(tmp_path)
    assert dict(archive.prefs().prefer) == DEFAULT_PREFERENCES["prefer"] == {}
    _write(archive, {"auto_resolve": ["exact_duplicates"]})  # a file with no prefer key
    assert dict(archive.prefs().prefer) == {}
    assert archive.prefs().preferred_sources("taken_date") == ()
    _write(archive, {"prefer": {"taken_date": ["google-photos", "file"], "tags": ["flickr"]}})
    prefs = archive.prefs()
    assert prefs.preferred_sources("taken_date") == ("google-photos", "file")
    assert dict(prefs.prefer) == {"taken_date": ("google-photos", "file"), "tags": ("flickr",)}
    with pytest.raises(TypeError):
        prefs.prefer["caption"] = ("file",)  # type: ignore[index]
    assert_check_clean(archive.root)
