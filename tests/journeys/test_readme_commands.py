"""Every photosync command line in the README parses: no unknown option, no extra argument."""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path

import click
import pytest

from photosync.cli import cli
from tests.journeys.conftest import readme_blocks


def _readme_commands() -> list[str]:
    out = []
    for block in readme_blocks():
        for line in block:
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("photosync "):
                    out.append(part)
    return out


def _parse(args: list[str]) -> list[str]:
    """Parse as click would run it, down to the leaf command, without running anything."""
    ctx = cli.make_context("photosync", list(args))
    names = []
    command: click.Command = cli
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2 moves the subcommand into ctx.args in 9.0
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*ctx.protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        names.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return names


def test_the_readme_shows_the_commands_a_first_session_needs() -> None:
    commands = _readme_commands()
    assert len(commands) >= 30
    for needed in ("init", "discover", "resolve", "replicate", "status", "audit", "verify"):
        assert any(c.split()[1] == needed or f" {needed}" in c for c in commands), needed


@pytest.mark.parametrize("line", _readme_commands())
def test_every_readme_command_line_parses(
    line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = shlex.split(line)[1:]
    for arg in args:  # files a command line names (Takeout parts) exist where it runs
        if arg.endswith((".zip", ".tgz")):
            (tmp_path / arg).write_bytes(b"")
    try:
        names = _parse(args)
    except click.UsageError as error:
        pytest.fail(f"README: `{line}` does not parse: {error.format_message()}")
    assert names, line
