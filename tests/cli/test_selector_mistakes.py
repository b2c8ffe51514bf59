"""A ``--only``, a service name or an export folder that cannot work is the user's
mistake (exit 3 saying what is accepted), never "nothing to do" with exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photosync.model import parse_selector
from tests.helpers import assert_check_clean, make_library, records


def _photosync(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos discovered from a folder, one of them in albums set by hand."""
    tmp = tmp_path_factory.mktemp("mistakes")
    make_library(tmp / "lib", 3)
    root = tmp / "archive"
    assert _photosync(tmp, "init", str(root)).returncode == 0  # --archive is ignored by init
    added = _photosync(
        root, "service", "add", "phone", "--type", "local", "--path", str(tmp / "lib")
    )
    assert added.returncode == 0, added.stderr
    assert _photosync(root, "discover").returncode == 0
    record = records(root)[0]
    record["metadata"]["albums"] = ["Family", "Trip"]
    path = next((root / "photos").rglob(f"{record['photo_id']}.json"))
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "albums by hand"], check=True)
    return root


@pytest.mark.parametrize(
    ("selector", "said"),
    [
        (
            "00000000-0000-0000-0000-000000000000",
            "no photo with id 00000000-0000-0000-0000-000000000000",
        ),
        ("0000000000", "no photo with id 0000000000"),
        ("nonsense", "'nonsense' is not a selector"),
        ("2023-13", "there is no month 13"),
        ("album:Nowhere", "albums: Family, Trip"),
    ],
)
@pytest.mark.parametrize("command", ["restore", "export"])
def test_an_only_that_matches_nothing_by_form_or_id_exits_3(
    archive_root: Path, tmp_path: Path, command: str, selector: str, said: str
) -> None:
    args = ["restore"] if command == "restore" else ["export", str(tmp_path / "out")]
    run = _photosync(archive_root, *args, "--only", selector)
    assert run.returncode == 3, run.stdout + run.stderr
    assert said in " ".join(run.stderr.split()), run.stderr
    assert "album:TITLE" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is written
    assert_check_clean(archive_root)


def test_an_only_naming_a_real_photo_album_or_an_empty_year_still_works(
    archive_root: Path, tmp_path: Path
) -> None:
    photo_id = records(archive_root)[0]["photo_id"]
    for n, selector in enumerate([photo_id[:8], photo_id.upper(), "album:Trip", "1999"]):
        run = _photosync(archive_root, "export", str(tmp_path / f"out{n}"), "--only", selector)
        assert run.returncode == 0, run.stderr
    assert_check_clean(archive_root)


def test_visibility_approve_for_an_unknown_service_exits_3_naming_the_configured_ones(
    archive_root: Path,
) -> None:
    run = _photosync(archive_root, "visibility", "approve", "--service", "no-such-service", "--yes")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "no service named 'no-such-service'" in run.stderr
    assert "Configured services: phone" in run.stderr and "Traceback" not in run.stderr
    assert_check_clean(archive_root)


def test_export_to_a_folder_that_cannot_be_created_says_so(archive_root: Path) -> None:
    run = _photosync(archive_root, "export", "/proc/photosync-nope")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "cannot create the export folder /proc/photosync-nope" in run.stderr
    assert "free some space" not in run.stderr and "Traceback" not in run.stderr
    assert_check_clean(archive_root)


@given(st.text(max_size=40))
def test_a_selector_is_either_parsed_or_refused_never_both(selector: str) -> None:
    """Every string is one of the forms (then matching is by that form) or a ValueError."""
    try:
        kind, value = parse_selector(selector)
    except ValueError as error:
        assert "selector" in str(error) or "no month" in str(error)
        return
    assert kind in {"year", "month", "album", "undated", "id"}
    if kind == "month":
        assert 1 <= int(value[5:]) <= 12
