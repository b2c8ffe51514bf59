"""photosync's command line in-process, judged like a user would: exit code, message, no traceback."""

from __future__ import annotations

import traceback
from pathlib import Path

from click.testing import CliRunner, Result

from photosync.cli import cli


def photosync(root: Path | None, *args: str, expect: int | tuple[int, ...] | None = 0) -> Result:
    """Run ``photosync [--archive ROOT] ARGS``; an exception escaping the CLI fails the test."""
    argv = (["--archive", str(root)] if root is not None else []) + ["-q", *args]
    result = CliRunner().invoke(cli, argv, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(
            f"photosync {' '.join(args)} crashed with a traceback:\n{trace}\n{result.output}"
        )
    if expect is not None:
        wanted = (expect,) if isinstance(expect, int) else expect
        assert result.exit_code in wanted, (
            f"photosync {' '.join(args)} exited {result.exit_code}, wanted {wanted}:\n{result.output}"
        )
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove nothing changed or went away)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
