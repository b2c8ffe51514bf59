"""`discover --takeout` as the README shows it, and a Google service named without one."""

from __future__ import annotations

from pathlib import Path

from photosync.emulators.takeout import generate_takeout
from tests.helpers import assert_check_clean, git_log, new_archive, records, run_cli


def _google_archive(tmp_path: Path) -> Path:
    archive = new_archive(
        tmp_path, **{"google-photos": {"type": "google-photos", "target": True, "source": False}}
    )
    archive.close()
    return archive.root


def test_takeout_parts_after_one_option_as_the_readme_shows(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=3, seed=3)
    root = _google_archive(tmp_path)
    parts = [str(p) for p in manifest.parts]
    result = run_cli(
        "--archive", str(root), "discover", "--service", "google-photos", "--takeout", *parts
    )
    assert result.exit_code in (0, 4), result.output  # 4: the Takeout's own warnings
    hashes = {r["content_hash"][7:] for r in records(root)}
    # every part was read: the photos of the last part are there too
    assert {item.sha256 for item in manifest.items} <= hashes
    # the repeated-option form still works and finds nothing new
    again = run_cli(
        "--archive",
        str(root),
        "discover",
        "--service",
        "google-photos",
        "--json",
        *(arg for part in parts for arg in ("--takeout", part)),
    )
    assert again.exit_code in (0, 4), again.output
    assert len(records(root)) == len(hashes)
    assert_check_clean(root)


def test_a_google_service_without_takeout_says_how_to_read_it(tmp_path: Path) -> None:
    root = _google_archive(tmp_path)
    result = run_cli("--archive", str(root), "discover", "--service", "google-photos")
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "google-photos cannot be listed by discover" in said
    assert "--takeout takeout-001.zip" in said and "Traceback" not in said
    assert records(root) == []
    assert_check_clean(root)


def test_parts_without_takeout_are_a_usage_error(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=1, seed=4)
    root = _google_archive(tmp_path)
    result = run_cli("--archive", str(root), "discover", str(manifest.parts[0]))
    assert result.exit_code == 2
    assert "after --takeout" in result.output


def test_a_plain_discover_says_how_to_read_a_google_photos_service(tmp_path: Path) -> None:
    root = _google_archive(tmp_path)
    result = run_cli("--archive", str(root), "discover")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "google-photos" in said and "--takeout takeout-001.zip" in said
    assert_check_clean(root)


def test_a_takeout_for_a_disabled_service_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=1, seed=5)
    root = _google_archive(tmp_path)
    assert run_cli("--archive", str(root), "service", "disable", "google-photos").exit_code == 0
    commits = git_log(root)
    part = str(manifest.parts[0])
    retired = run_cli(
        "--archive", str(root), "discover", "--service", "google-photos", "--takeout", part
    )
    assert retired.exit_code == 3, retired.output
    said = " ".join(retired.output.split())
    assert "google-photos is disabled" in said and "service enable google-photos" in said
    assert "Traceback" not in said
    assert records(root) == [] and git_log(root) == commits  # nothing read, nothing committed
    # brought back through photosync, the same Takeout is read
    assert run_cli("--archive", str(root), "service", "enable", "google-photos").exit_code == 0
    again = run_cli(
        "--archive", str(root), "discover", "--service", "google-photos", "--takeout", part
    )
    assert again.exit_code in (0, 4), again.output
    assert {item.sha256 for item in manifest.items} <= {
        r["content_hash"][7:] for r in records(root)
    }
    assert_check_clean(root)
