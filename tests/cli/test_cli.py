"""The command line: help everywhere, exit codes, no traceback for a user mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from photosync.cli import cli
from photosync.cli.demo import web_command
from tests.helpers import make_library, run_cli


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out.extend(_all_commands(command, (*prefix, name)))
    return out


@pytest.mark.parametrize("path", _all_commands(cli), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = run_cli(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    command = cli
    for part in path:
        command = command.get_command(click.Context(command), part)  # type: ignore[attr-defined]
    assert command.help, f"{' '.join(path)} has no help text"


def _photosync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_user_mistakes_exit_with_documented_codes_and_no_traceback(tmp_path: Path) -> None:
    no_archive = _photosync("status", cwd=tmp_path)
    assert no_archive.returncode == 3
    assert "no photosync archive" in no_archive.stderr and "Traceback" not in no_archive.stderr
    bad_since = _photosync("--archive", str(tmp_path), "discover", "--since", "soon", cwd=tmp_path)
    assert bad_since.returncode == 2 and "Traceback" not in bad_since.stderr
    assert _photosync("init", str(tmp_path / "a"), cwd=tmp_path).returncode == 0
    (tmp_path / "a" / "config" / "user-preferences.json").write_text("{broken")
    broken = _photosync("discover", cwd=tmp_path / "a")
    assert broken.returncode == 3 and "user-preferences.json is not valid JSON" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_full_flow_through_the_cli_with_json_output(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 4)
    root = str(tmp_path / "archive")
    assert run_cli("init", root).exit_code == 0
    assert (
        run_cli(
            "--archive",
            root,
            "service",
            "add",
            "lib",
            "--type",
            "local",
            "--path",
            str(tmp_path / "lib"),
        ).exit_code
        == 0
    )
    assert (
        run_cli(
            "--archive",
            root,
            "service",
            "add",
            "out",
            "--type",
            "local",
            "--path",
            str(tmp_path / "out"),
            "--target",
            "--no-source",
        ).exit_code
        == 0
    )
    duplicate = run_cli(
        "--archive", root, "service", "add", "lib", "--type", "local", "--path", str(tmp_path)
    )
    assert duplicate.exit_code == 3
    services = json.loads(run_cli("--archive", root, "service", "list", "--json").output)
    assert sorted(services) == ["lib", "out"] and services["out"]["target"] is True
    found = json.loads(run_cli("--archive", root, "discover", "--json").output)
    assert [s["new"] for s in found["services"]] == [4]
    run_cli("--archive", root, "resolve", "--auto-resolve", "simple")
    plan = json.loads(run_cli("--archive", root, "replicate", "--dry-run", "--json").output)
    assert plan["plan"] == {"out": {"upload": 4}} and plan["execute"] is False
    done = json.loads(run_cli("--archive", root, "replicate", "--execute", "--json").output)
    assert done["done"] == {"out:upload": 4}
    status = json.loads(run_cli("--archive", root, "status", "--json").output)
    assert status["photos"] == 4 and status["by_state"] == {"replicated": 4}
    audit = run_cli("--archive", root, "audit", "--visibility-check", "--json")
    assert audit.exit_code == 0 and json.loads(audit.output)["wider_than_canonical"] == 0


def test_demo_on_local_folders_only(tmp_path: Path) -> None:
    result = run_cli("demo", "--no-services", "--keep", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    assert "demo finished" in result.output
    # it ends by saying how to look at it in the browser
    assert web_command((tmp_path / "demo").resolve()) in result.output
    status = json.loads(
        run_cli("--archive", str(tmp_path / "demo" / "archive"), "status", "--json").output
    )
    assert status["photos"] == 12 and status["by_state"].get("replicated", 0) >= 10


def test_demo_with_the_emulated_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSYNC_CONFIG_DIR", str(tmp_path / "must-not-be-used"))
    result = run_cli("demo", "--keep", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    status = json.loads(
        run_cli("--archive", str(tmp_path / "demo" / "archive"), "status", "--json").output
    )
    by_service = status["instances_by_service"]
    assert by_service["flickr"] >= 8 + 10  # seeded on Flickr, plus what replicate uploaded
    assert by_service["google-photos"] > 10  # from the Takeout, plus uploads
    # the sample Takeout's photo in a link-shared album waits for a visibility decision
    assert status["by_state"]["replicated"] >= 29
    # the demo's tokens went to its own folder, never the user's config
    assert (tmp_path / "demo" / "user-config" / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "must-not-be-used").exists()


def test_an_internal_inconsistency_is_a_bug_exit_1_not_a_user_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An id photosync itself listed and then cannot find is its own fault: exit 1."""
    from photosync.archive.archive import Archive
    from photosync.cli._common import handle_errors
    from photosync.errors import ExitCode, InternalError

    archive = Archive.init(tmp_path / "a")

    @handle_errors
    def lookup() -> None:
        archive.load_record("0c4c46f6-5c07-5027-bd4f-54fecc81917b")

    with pytest.raises(SystemExit) as exited:
        lookup()
    assert exited.value.code == ExitCode.INTERNAL == 1
    assert "please report" in capsys.readouterr().err
    with pytest.raises(InternalError):
        archive.load_record("nope")
    archive.close()
