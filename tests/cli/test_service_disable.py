"""``service disable`` / ``enable``: retiring a service (and bringing it back) changes
only its config entry."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_check_clean, git_log, make_library, run_cli


def test_disable_retires_a_service_once_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    root = str(tmp_path / "archive")
    assert run_cli("init", root).exit_code == 0
    added = run_cli("--archive", root, "service", "add", "phone", "--type", "local", "--path",
                    str(tmp_path / "lib"))  # fmt: skip
    assert added.exit_code == 0, added.output
    assert run_cli("--archive", root, "discover").exit_code == 0
    commits = len(git_log(Path(root)))
    first = run_cli("--archive", root, "service", "disable", "phone")
    assert first.exit_code == 0 and "is now disabled" in first.output
    again = run_cli("--archive", root, "service", "disable", "phone")
    assert again.exit_code == 0 and "was already disabled" in again.output
    assert len(git_log(Path(root))) == commits + 1  # one config commit, nothing else
    listed = run_cli("--archive", root, "service", "list")
    assert "no (retired)" in listed.output
    unknown = run_cli("--archive", root, "service", "disable", "nope")
    assert unknown.exit_code == 3 and "Configured services: phone" in unknown.output
    # a run no longer reads it, even when named; the photos it gave stay in the archive
    named = run_cli("--archive", root, "discover", "--service", "phone")
    assert named.exit_code == 3 and "phone is disabled" in named.output, named.output
    assert run_cli("--archive", root, "discover").exit_code == 0
    assert run_cli("--archive", root, "status").exit_code == 0
    assert_check_clean(Path(root))


def test_enable_brings_a_disabled_service_back(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    root = str(tmp_path / "archive")
    assert run_cli("init", root).exit_code == 0
    added = run_cli("--archive", root, "service", "add", "phone", "--type", "local", "--path",
                    str(tmp_path / "lib"))  # fmt: skip
    assert added.exit_code == 0, added.output
    assert run_cli("--archive", root, "service", "disable", "phone").exit_code == 0
    commits = len(git_log(Path(root)))
    first = run_cli("--archive", root, "service", "enable", "phone")
    assert first.exit_code == 0 and "is now enabled" in first.output, first.output
    again = run_cli("--archive", root, "service", "enable", "phone")
    assert again.exit_code == 0 and "was already enabled" in again.output
    assert len(git_log(Path(root))) == commits + 1  # one config commit
    assert "no (retired)" not in run_cli("--archive", root, "service", "list").output
    unknown = run_cli("--archive", root, "service", "enable", "nope")
    assert unknown.exit_code == 3 and "Configured services: phone" in unknown.output
    named = run_cli("--archive", root, "discover", "--service", "phone")
    assert named.exit_code == 0, named.output
    assert len(list((Path(root) / "photos").rglob("*.json"))) == 2
    assert_check_clean(Path(root))
