"""Found by the red-team pass (round 6): ``service add`` with a name the configuration
does not allow (``A``, ``my lib``) was refused (exit 3) with "config/services.json is not
valid: services: is not in the expected form" and a hint about secrets and restoring the
file with git: nothing said that the name was the trouble. It is now said first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import git_clean, git_log, run_cli


@pytest.mark.parametrize("name", ["A", "my lib", ".x", "a/b"])
def test_a_bad_service_name_is_named_as_the_trouble(tmp_path: Path, name: str) -> None:
    root = tmp_path / "archive"
    assert run_cli("init", str(root)).exit_code == 0
    before = git_log(root)
    added = run_cli(
        "--archive", str(root), "service", "add", name, "--type", "local", "--path", str(tmp_path)
    )
    assert added.exit_code == 3, added.output
    assert f"not a valid service name: {name!r}" in added.output
    assert "Secrets" not in added.output
    assert git_log(root) == before and git_clean(root)
