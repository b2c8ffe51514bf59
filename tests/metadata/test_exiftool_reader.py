"""The deeper reader: one exiftool process per run, asked only about the built-in reader's gaps."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from tests.helpers import assert_check_clean, new_archive, records
from tests.metadata.md_builders import flir_fff

from photosync.emulators.samples import write_jpeg
from photosync.errors import ConfigError
from photosync.metadata import extract_media_info
from photosync.metadata.exiftool import ExiftoolReader, facts_from_exiftool, open_reader
from photosync.workflow.discover import discover

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
#: a FLIR thermal camera's own file (FFF): exiftool reads it, the built-in reader does not
FLIR_WHEN = (1621193256, 107, 420)  # 2021-05-16 19:27:36.107 UTC on a UTC-7 clock
WHEN = datetime(2021, 1, 27, 19, 33, 39)


def _group_alive(pgid: int) -> list[str]:
    """Command names of the live (not zombie) processes of a process group."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        fields = rest.split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(name)
    return alive


def _wait_gone(pgid: int, within_s: float = 20.0) -> list[str]:
    """Live processes of the group once it is empty or the deadline passed (polled)."""
    deadline = time.monotonic() + within_s
    alive = _group_alive(pgid)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = _group_alive(pgid)
    return alive


def _wait_gone_pid(pid: int, within_s: float = 20.0) -> bool:
    """Has the process ended (or become a zombie) before the deadline? (polled)"""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _no_exiftool_path(tmp_path: Path) -> str:
    """A PATH with what photosync needs (python, git, sh, cat) but no exiftool."""
    bin_dir = tmp_path / "bin-no-exiftool"
    bin_dir.mkdir()
    for tool in ("git", "sh", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python").symlink_to(sys.executable)
    return str(bin_dir)


# -- answers -------------------------------------------------------------------------------


def test_answer_parsing_labels_dates_and_keeps_quicktime_utc() -> None:
    raw = json.dumps(
        [
            {
                "SourceFile": "x.mp4",
                "UserData:DateTimeOriginal": "2021:05:16 19:27:55Z",
                "QuickTime:CreateDate": "2021:05:16 19:27:55",
                "Composite:GPSLatitude": 34.07539,
                "Composite:GPSLongitude": -118.2543,
                "H264:Make": 4113,
                "IFD0:Orientation": 9,
            }
        ]
    ).encode()
    facts = facts_from_exiftool(raw)
    assert facts.dates == {
        "exiftool:DateTimeOriginal": "2021-05-16T19:27:55Z",
        "exiftool:CreateDate": "2021-05-16T19:27:55Z",
    }
    assert facts.location == {"lat": 34.07539, "lng": -118.2543}
    assert (facts.camera_make, facts.orientation) == ("4113", None)
    unsigned = facts_from_exiftool(
        b'[{"FLIR:GPSLatitude": 34.07, "FLIR:GPSLongitude": 118.25, "GPS:GPSAltitude": 3}]'
    )
    assert unsigned.location is None  # no reference: the hemisphere is unknown
    dst = facts_from_exiftool(b'[{"H264:DateTimeOriginal": "2008:12:31 23:16:24+01:00 DST"}]')
    assert dst.dates == {"exiftool:DateTimeOriginal": "2008-12-31T23:16:24+01:00"}
    assert facts_from_exiftool(b"not json").problems == ["exiftool gave an answer that is not JSON"]
    zero = facts_from_exiftool(b'[{"QuickTime:CreateDate": "0000:00:00 00:00:00"}]')
    assert zero.dates == {}


@needs_exiftool
def test_exiftool_fills_what_the_builtin_reader_cannot_read(tmp_path: Path) -> None:
    fff = tmp_path / "thermal.fff"
    fff.write_bytes(flir_fff(*FLIR_WHEN))
    builtin = extract_media_info(fff, file_time=False)
    assert builtin.taken_date is None and builtin.problems == ["unrecognised file format"]
    assert EXIFTOOL is not None
    with ExiftoolReader(EXIFTOOL) as reader:
        deep = extract_media_info(fff, file_time=False, deep=reader)
        assert reader.asked == 1
    assert (deep.taken_date, deep.taken_date_source) == (
        "2021-05-16T12:27:36.107-07:00",
        "exiftool:DateTimeOriginal",
    )


@needs_exiftool
def test_a_file_the_builtin_reader_answers_is_not_asked_about(tmp_path: Path) -> None:
    photo = write_jpeg(tmp_path / "a.jpg", seed=1, size=(32, 24), taken=WHEN)
    dateless = write_jpeg(tmp_path / "b.jpg", seed=2, size=(32, 24))
    assert EXIFTOOL is not None
    with ExiftoolReader(EXIFTOOL) as reader:
        info = extract_media_info(photo, deep=reader)
        assert (reader.asked, reader.started) == (0, 0)  # not even started
        assert info.taken_date_source == "exif:DateTimeOriginal"
        later = extract_media_info(dateless, deep=reader)
        assert reader.asked == 1  # no date inside: exiftool is asked, finds none either
        assert later.taken_date_source == "file:mtime"
    bare = tmp_path / "bare.jpg"  # a messenger's copy: no EXIF, nothing exiftool could add
    Image.new("RGB", (16, 16)).save(bare, "JPEG")
    vendor = tmp_path / "vendor.jpg"  # an APP4 segment of some camera maker's
    data = bare.read_bytes()
    vendor.write_bytes(data[:2] + b"\xff\xe4\x00\x08QVCI\x00\x00" + data[2:])
    with ExiftoolReader(EXIFTOOL) as reader:
        extract_media_info(bare, deep=reader)
        assert reader.asked == 0
        extract_media_info(vendor, deep=reader)
        assert reader.asked == 1
    with ExiftoolReader(EXIFTOOL, every_file=True) as every:
        extract_media_info(photo, deep=every)
        assert every.asked == 1


@needs_exiftool
def test_hostile_files_never_stop_the_reader(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe1\xff\xff" + os.urandom(300))
    odd_name = tmp_path / "line\nbreak.jpg"
    odd_name.write_bytes(b"\xff\xd8\xff\xd9")
    missing = tmp_path / "gone.jpg"
    good = write_jpeg(tmp_path / "good.jpg", seed=3, size=(16, 16), taken=WHEN)
    assert EXIFTOOL is not None
    with ExiftoolReader(EXIFTOOL) as reader:
        answers = reader.read_many([garbage, odd_name, missing, good])
        assert [f.dates for f in answers[:3]] == [{}, {}, {}]
        assert answers[1].problems == ["exiftool not asked: the file name holds a line break"]
        assert answers[3].dates["exiftool:DateTimeOriginal"] == "2021-01-27T19:33:39"
        assert reader.started == 1  # one process served them all


@needs_exiftool
def test_threads_share_one_process_and_each_gets_its_own_answer(tmp_path: Path) -> None:
    """discover's workers ask at once: their files go in shared batches, answers never mix."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    files = {
        write_jpeg(tmp_path / f"{i}.jpg", seed=i, size=(8, 8), taken=WHEN + timedelta(days=i)): i
        for i in range(24)
    }
    assert EXIFTOOL is not None
    with ExiftoolReader(EXIFTOOL) as reader, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(reader.read, files))
        assert (reader.started, reader.asked) == (1, 24)
    for (path, i), facts in zip(files.items(), answers, strict=True):
        want = (WHEN + timedelta(days=i)).isoformat()
        assert facts.dates["exiftool:DateTimeOriginal"] == want, path.name


@needs_exiftool
def test_a_reader_bug_is_a_note_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosync.metadata import exiftool as module

    def broken(raw: bytes) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "facts_from_exiftool", broken)
    photo = write_jpeg(tmp_path / "a.jpg", seed=9, size=(8, 8))
    assert EXIFTOOL is not None
    with ExiftoolReader(EXIFTOOL) as reader:
        info = extract_media_info(photo, deep=reader)
    assert "exiftool reader failed: RuntimeError" in info.problems
    assert info.taken_date_source == "file:mtime"


#: a stand-in for ``exiftool -stay_open True -@ -``: answers each ``-executeN`` with one
#: JSON entry per file (a date from the name's digits), logs the files of each command,
#: hangs on a file named ``*hang*`` and dies on one named ``*crash*``
_FAKE_EXIFTOOL = """\
import json, sys, time
log = open(sys.argv[1], "a")
files = []
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line.startswith("-execute"):
        log.write(" ".join(f.rsplit("/", 1)[1] for f in files) + "\\n")
        log.flush()
        out = []
        for f in files:
            name = f.rsplit("/", 1)[1]
            if "hang" in name:
                time.sleep(600)
            if "crash" in name:
                sys.exit(3)
            day = int(name.split(".")[0][1:3]) + 1
            out.append({"SourceFile": f, "ExifIFD:DateTimeOriginal": f"2021:01:{day:02d} 10:00:00"})
        sys.stdout.write(json.dumps(out) + "\\n{ready" + line[8:] + "}\\n")
        sys.stdout.flush()
        files = []
    elif line.startswith("/"):
        files.append(line)
"""


def _fake_exiftool(tmp_path: Path) -> tuple[str, Path]:
    """(the fake's path, its log: one line per command, the files it named)."""
    log = tmp_path / "commands.log"
    script = tmp_path / "fake_exiftool.py"
    script.write_text(_FAKE_EXIFTOOL)
    fake = tmp_path / "exiftool"
    fake.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{script}' '{log}'\n")
    fake.chmod(0o755)
    return str(fake), log


@needs_proc
def test_several_files_go_in_one_command_and_each_gets_its_own_answer(tmp_path: Path) -> None:
    fake, log = _fake_exiftool(tmp_path)
    files = [tmp_path / f"f{i:02d}.jpg" for i in range(10)]
    with ExiftoolReader(fake) as reader:
        answers = reader.read_many(files)
        assert (reader.started, reader.asked) == (1, 10)
    assert log.read_text().splitlines() == [" ".join(f.name for f in files)]  # one command
    for i, facts in enumerate(answers):
        assert facts.dates == {"exiftool:DateTimeOriginal": f"2021-01-{i + 1:02d}T10:00:00"}


@needs_proc
@pytest.mark.parametrize("bad", ["f03-hang.jpg", "f03-crash.jpg"])
def test_a_file_that_hangs_or_crashes_exiftool_in_a_batch_costs_only_itself(
    tmp_path: Path, bad: str
) -> None:
    """The batch times out (or exiftool dies): its files are asked again one by one, so
    every other file gets its answer and only the bad one a note."""
    fake, log = _fake_exiftool(tmp_path)
    names = ["f00.jpg", "f01.jpg", "f02.jpg", bad, "f04.jpg", "f05.jpg"]
    # 4 s: a Python stand-in may take seconds to start on a loaded machine
    with ExiftoolReader(fake, timeout=4.0) as reader:
        answers = reader.read_many([tmp_path / n for n in names])
    for name, facts in zip(names, answers, strict=True):
        if name == bad:
            assert facts.dates == {} and len(facts.problems) == 1, facts
            # a crash is an EOF at once (only exiftool holds its output), a hang a timeout
            assert facts.problems[0] == (
                "exiftool stopped while reading the file"
                if "crash" in bad
                else "exiftool gave no answer within 4 s"
            )
        else:
            day = int(name[1:3]) + 1
            assert facts.dates == {"exiftool:DateTimeOriginal": f"2021-01-{day:02d}T10:00:00"}, (
                name,
                answers,
            )
    commands = log.read_text().splitlines()
    assert commands[0] == " ".join(names)  # first the whole batch, then each alone
    assert commands[1:] == names
    assert sum(bad in command.split() for command in commands) == 2  # the batch, then alone


@needs_proc
def test_a_stuck_exiftool_is_killed_and_replaced(tmp_path: Path) -> None:
    """A file exiftool hangs on costs one timeout, not the run: the process is killed and the
    next file gets a fresh one."""
    pids = tmp_path / "pids"
    fake = tmp_path / "exiftool"
    fake.write_text(f"#!/bin/sh\necho $$ >> '{pids}'\nexec sleep 600\n")
    fake.chmod(0o755)
    with ExiftoolReader(str(fake), timeout=0.3) as reader:
        first = reader.read(tmp_path / "a.jpg")
        assert first.problems == ["exiftool gave no answer within 0.3 s"]
        assert reader.pid is None  # the stuck one is gone ...
        reader.read(tmp_path / "b.jpg")
        assert reader.started == 2  # ... and a new one was started for the next file
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2
    assert [_wait_gone_pid(pid) for pid in started] == [True, True]


@needs_exiftool
@needs_proc
def test_exiftool_ends_when_photosync_is_killed(tmp_path: Path) -> None:
    """SIGKILL gives photosync no chance to close exiftool: it must end by itself."""
    photo = write_jpeg(tmp_path / "a.jpg", seed=4, size=(16, 16))
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from photosync.metadata.exiftool import open_reader\n"
        "reader = open_reader('auto')\n"
        "reader.read(Path(sys.argv[1]))\n"
        "print(reader.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(photo)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pgid = int(done.stdout.strip())
    assert _wait_gone(pgid) == []


@needs_exiftool
@needs_proc
def test_discover_closes_exiftool_and_records_what_it_read(tmp_path: Path) -> None:
    library = tmp_path / "library"
    write_jpeg(library / "dated.jpg", seed=5, size=(16, 16), taken=WHEN)
    dateless = write_jpeg(library / "dateless.jpg", seed=6, size=(16, 16), make=None, model=None)
    os.utime(dateless, (1_600_000_000, 1_600_000_000))
    archive = new_archive(tmp_path, local={"type": "local", "path": str(library)})
    before = set(_children_with("stay_open"))
    report = discover(archive)
    assert report.new == 2 and report.failed == 0
    assert set(_children_with("stay_open")) == before  # closed at the end of the run
    dates = sorted(r["metadata"].get("taken_date_source") or "" for r in records(archive.root))
    assert dates == ["exif:DateTimeOriginal", "file:mtime"]
    assert_check_clean(archive.root)


def test_reader_preference_is_checked_and_exiftool_mode_needs_exiftool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosync.archive.preferences import load_preferences

    assert load_preferences({})["metadata"] == {"reader": "auto"}
    assert load_preferences({"metadata": {"reader": "builtin"}})["metadata"]["reader"] == "builtin"
    with pytest.raises(ConfigError, match=r"metadata\.reader: must be one of auto, builtin"):
        load_preferences({"metadata": {"reader": "exif"}})
    assert open_reader("builtin") is None
    monkeypatch.setenv("PATH", _no_exiftool_path(tmp_path))
    assert open_reader("auto") is None  # the built-in reader alone, quietly
    with pytest.raises(ConfigError, match="exiftool is not installed"):
        open_reader("exiftool")


def test_discover_without_exiftool_on_path_uses_the_builtin_reader(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "thermal.fff").write_bytes(flir_fff(*FLIR_WHEN))
    write_jpeg(library / "dated.jpg", seed=7, size=(16, 16), taken=WHEN)
    archive = new_archive(tmp_path, local={"type": "local", "path": str(library)})
    env = {**os.environ, "PATH": _no_exiftool_path(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive.root), "discover"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    by_name = {
        r["metadata"].get("filename"): r["metadata"].get("taken_date_source")
        for r in records(archive.root)
    }
    # without exiftool the thermal photo is archived all the same, dated by its file time
    assert by_name == {"thermal.fff": "file:mtime", "dated.jpg": "exif:DateTimeOriginal"}
    prefs = archive.preferences()
    prefs["metadata"] = {"reader": "exiftool"}
    archive.save_preferences(prefs)
    archive.commit("config: exiftool required")
    refused = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive.root), "discover"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 3, refused.stderr
    assert "exiftool is not installed" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    assert_check_clean(archive.root)


def _children_with(word: str) -> list[int]:
    """Live child processes of this test process whose command line holds ``word``."""
    out = []
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == me and fields[0] != "Z" and word.encode() in cmdline:
            out.append(int(stat.parent.name))
    return out
