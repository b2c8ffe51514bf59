"""Adding a service or a storage location is a library call: validated, written, committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.errors import ConfigError
from photosync.workflow.config import add_location, add_service, location_spec, service_entry
from photosync.workflow.context import blob_locations
from tests.helpers import assert_check_clean, git_log


def test_a_service_and_a_location_added_without_the_cli(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "archive")
    archive.lock()
    entry = service_entry("local", path=tmp_path / "phone", exclude=["Screenshots/*"])
    add_service(archive, "phone", entry)
    assert git_log(archive.root)[0] == "config: add service phone (local)"
    assert archive.services()["phone"] == {
        "type": "local",
        "enabled": True,
        "target": False,
        "source": True,
        "path": str((tmp_path / "phone").resolve()),
        "exclude": ["Screenshots/*"],
    }
    with pytest.raises(ConfigError, match="exists already"):
        add_service(archive, "phone", entry)

    spec = location_spec("nas", "local", path=tmp_path / "nas")
    add_location(archive, spec)
    assert (tmp_path / "nas").is_dir()  # reached now: a typo shows here
    assert [loc["name"] for loc in blob_locations(archive)][-1] == "nas"
    assert git_log(archive.root)[0] == "config: add storage location nas"
    with pytest.raises(ConfigError, match="exists already"):
        add_location(archive, spec)
    archive.close()
    assert_check_clean(archive.root)


def test_a_credential_in_an_option_is_refused_before_any_entry_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        service_entry("flickr", endpoints=["rest=https://x.invalid/?api_key=abcdef0123456789"])
    with pytest.raises(ConfigError):
        location_spec("aws", "s3", bucket="b", endpoint="https://u:secretpass@s3.invalid")
    with pytest.raises(ConfigError, match="expected KEY=URL"):
        service_entry("flickr", endpoints=["rest"])
    with pytest.raises(ConfigError, match="only apply to s3 and b2"):
        location_spec("nas", "local", path=tmp_path, bucket="b")
    assert json.dumps(location_spec("b", "b2", bucket="x", endpoint="https://s3.b2.invalid"))
