"""Red-team: a resolve killed (SIGKILL) after it joined quality variants, then run
again, does not end with the records a never-killed resolve writes.

Photos: the 8 EXIF-orientation examples of the shared test data (landscape_1 has other
tones than landscape_2..8, which are one picture stored 7 ways). A clean resolve joins
2..8 into one record and raises an ``edit_variant`` question between that record and
landscape_1 whose description gives the colour difference to the member that was
compared (12.8). Killed after the join, the re-run compares with the survivor (12.6):
the question's description differs from the never-killed run's ("the same records as
an unkilled run").
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_check_clean, discovered, git_clean, killed_after, records, resolved

ORIENTATION = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "photos" / "orientation"

KILLED = """
import photosync.archive.archive as module
from photosync.workflow.resolve import auto_resolve
real_remove = module.Archive.remove_record

def remove_record(self, *args, **kwargs):
    real_remove(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # killed after the first joined file went

module.Archive.remove_record = remove_record
auto_resolve(archive)
"""


def _discovered(tmp: Path) -> Path:
    shutil.copytree(ORIENTATION, tmp / "lib")
    return discovered(tmp, tmp / "lib")


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "updated_at"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.mark.skipif(not ORIENTATION.is_dir(), reason="needs ../shared/testdata")
def test_resolve_killed_after_a_join_ends_as_a_clean_run(tmp_path: Path) -> None:
    killed = _discovered(tmp_path / "killed")
    clean = tmp_path / "clean" / "archive"  # the same discovered archive, resolved unkilled
    shutil.copytree(killed, clean, symlinks=True)
    resolved(clean)

    killed_after(killed, KILLED)
    resolved(killed)

    assert git_clean(killed)
    assert_check_clean(killed)
    expected = sorted((_without_times(r) for r in records(clean)), key=lambda r: r["photo_id"])
    got = sorted((_without_times(r) for r in records(killed)), key=lambda r: r["photo_id"])
    assert [r["photo_id"] for r in got] == [r["photo_id"] for r in expected]
    for want, have in zip(expected, got, strict=True):
        assert have.get("conflicts") == want.get("conflicts"), have["photo_id"]
        assert have == want
