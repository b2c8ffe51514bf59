"""The deeper reader: one long-lived ``exiftool -stay_open`` process for what the built-in
reader cannot answer (vendor segments, old raw formats, videos of many kinds).

exiftool is the field's reference, but starting it costs ~0.2 s, so one process
serves a whole run: requests from discover's worker threads are queued and the
thread that gets the process sends the queued files in batches of up to
``MAX_BATCH``, several files per ``-executeN`` (each answer is matched to its file by
exiftool's ``SourceFile``; a file a batch did not answer is asked again alone, where
no answer can be given to the wrong file). A batch has ``timeout`` seconds in all; one
that hangs or crashes exiftool is asked again one file at a time, so the file at fault
costs only itself. PyExifTool is not used:
its process keeps running after photosync is killed (exiftool keeps polling a
closed ``-@ -``; see ``_command``), it reads answers without a time limit (a
hostile file would hang discover) and it is not safe to share between threads.

Never raises for a bad file: an error, a hang (``timeout``: the process is killed
and started again) or a crash of exiftool become notes in ``Facts.problems``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from photosync.errors import ConfigError
from photosync.metadata.dates import parse_exif_datetime
from photosync.metadata.facts import Facts, clean_text, valid_location

#: seconds one batch (or one file asked alone) may take before exiftool is deemed stuck
REQUEST_TIMEOUT_S = 30.0
#: files sent to the process in one ``-execute`` (their answers are a few kB each)
MAX_BATCH = 32
#: what we ask for; the rest of a file's tags is never read (and never printed)
TAGS = (
    "DateTimeOriginal",
    "CreateDate",
    "OffsetTimeOriginal",
    "SubSecTimeOriginal",
    "GPSLatitude",
    "GPSLongitude",
    "GPSAltitude",
    "Make",
    "Model",
    "Orientation",
    "ImageWidth",
    "ImageHeight",
)
#: groups (``-G1``) whose dates exiftool prints as the UTC the file stores
_UTC_GROUPS = ("QuickTime", "Track", "Media")
_COMMON_ARGS = (
    "-json",
    "-n",
    "-G1",
    "-api",
    "LargeFileSupport=1",
    *(f"-{tag}" for tag in TAGS),
)


def find_exiftool() -> str | None:
    """The exiftool on PATH, or None."""
    return shutil.which("exiftool")


def open_reader(mode: str) -> ExiftoolReader | None:
    """The deeper reader ``metadata.reader`` asks for, or None (built-in reader only).

    ``auto`` uses exiftool when it is installed, only for what the built-in reader
    missed; ``exiftool`` requires it and asks it about every file, its answers
    first; ``builtin`` never starts it.
    ``exiftool`` without exiftool installed is the user's mistake to fix (exit 3);
    ``auto`` then quietly keeps to the built-in reader.
    """
    if mode == "builtin":
        return None
    executable = find_exiftool()
    if executable is None:
        if mode == "exiftool":
            raise ConfigError(
                "metadata.reader is 'exiftool', but exiftool is not installed (not on PATH)",
                hint="Install exiftool (Debian/Ubuntu: apt install libimage-exiftool-perl), "
                'or set metadata.reader to "auto" in config/user-preferences.json.',
            )
        return None
    return ExiftoolReader(executable, every_file=mode == "exiftool")


def _command(executable: str) -> list[str]:
    """exiftool behind a relay that ends it when our end of its input closes.

    With ``-stay_open True -@ -`` exiftool keeps polling its input after EOF, so
    a photosync killed by SIGKILL would leave it running forever. ``cat`` sees
    the EOF instead and the relay then tells exiftool to stop. Only exiftool holds
    our end of its output (the shell and ``cat`` close their copies), so a crash of
    exiftool is an EOF at once, not a wait for the timeout.
    """
    if os.name != "posix":
        return [executable, "-stay_open", "True", "-@", "-"]
    relay = (
        "exec 3<&0 4>&1 </dev/null >/dev/null\n"
        '{ exec 4>&-; cat <&3; printf "\\n-stay_open\\nFalse\\n"; } '
        '| "$0" -stay_open True -@ - >&4 3<&- 4>&- &\n'
        "exec 3<&- 4>&-\n"
        "wait\n"
    )
    return ["sh", "-c", relay, executable]


@dataclass
class _Request:
    path: Path
    facts: Facts | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ExiftoolReader:
    """One exiftool process; ``read`` is safe from many threads. Close it (or use ``with``)."""

    def __init__(
        self, executable: str, *, every_file: bool = False, timeout: float = REQUEST_TIMEOUT_S
    ) -> None:
        self.executable = executable
        #: ``metadata.reader: exiftool``: asked about every file, its answers first
        self.every_file = every_file
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._counter = 0
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._closed = False
        #: files asked about, and exiftool processes started (for tests and benches)
        self.asked = 0
        self.started = 0

    def __enter__(self) -> ExiftoolReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The running relay's process id (its group holds exiftool), None when not started."""
        return self._proc.pid if self._proc is not None else None

    def read(self, path: Path) -> Facts:
        """What exiftool says about one file; waits for (or joins) a batch of other threads'."""
        request = _Request(Path(path))
        with self._queue_lock:
            self._queue.append(request)
        with self._run_lock:
            if not request.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch)
        return request.facts or _failed("exiftool gave no answer")

    def read_many(self, paths: Iterable[Path]) -> list[Facts]:
        """What exiftool says about each file, in order (sent in batches of ``MAX_BATCH``)."""
        requests = [_Request(Path(p)) for p in paths]
        with self._run_lock:
            self._run(requests)
        return [r.facts or Facts(origin="exiftool") for r in requests]

    def close(self) -> None:
        """Ask exiftool to stop, then wait briefly; kill what is left."""
        with self._run_lock:
            self._closed = True
            self._stop(graceful=True)

    # process side (under _run_lock) ------------------------------------------------------
    def _run(self, requests: Sequence[_Request]) -> None:
        for start in range(0, len(requests), MAX_BATCH):
            self._run_batch(requests[start : start + MAX_BATCH])

    def _run_batch(self, batch: Sequence[_Request]) -> None:
        """Answer every request of ``batch``: all at once, or each alone when that failed."""
        try:
            answers = self._ask(batch)
        except OSError as exc:  # exiftool cannot be started (removed mid-run, ...)
            self._stop(graceful=False)
            answers = [_failed(f"exiftool cannot run: {exc.strerror or exc}") for _ in batch]
        except _Stuck as stuck:
            self._stop(graceful=False)
            if len(batch) > 1:  # which file hung or crashed it is unknown: ask each alone
                for request in batch:
                    self._run_batch([request])
                return
            answers = [_failed(str(stuck))]
        except Exception as exc:  # a reader bug must not stop discover either
            self._stop(graceful=False)
            answers = [_failed(f"exiftool reader failed: {type(exc).__name__}") for _ in batch]
        unanswered = []
        for request, facts in zip(batch, answers, strict=True):
            if facts is None:
                unanswered.append(request)
                continue
            request.facts = facts
            request.done.set()
        for request in unanswered:  # a name exiftool spelled otherwise: alone, it is its own
            self._run_batch([request])

    def _ask(self, batch: Sequence[_Request]) -> list[Facts | None]:
        """One ``-executeN`` for the whole batch; None for a file of several not answered."""
        if self._closed:
            return [_failed("the exiftool reader was closed") for _ in batch]
        names: list[str | None] = []
        for request in batch:
            path = os.fspath(request.path.absolute())
            names.append(None if "\n" in path or "\r" in path else path)  # an argument line
        wanted = list(dict.fromkeys(n for n in names if n is not None))
        proc = self._process()
        entries: dict[str, bytes] = {}
        if wanted:
            self._counter += 1
            tag = self._counter
            lines = [*_COMMON_ARGS, *wanted, f"-execute{tag}"]
            assert proc.stdin is not None
            try:
                proc.stdin.write(os.fsencode("\n".join(lines) + "\n"))
                proc.stdin.flush()
            except OSError as exc:
                raise _Stuck(f"exiftool stopped: {exc}") from exc
            raw = self._answer(proc, tag)
            self.asked += len(wanted)
            entries = _by_source_file(raw) if len(wanted) > 1 else {wanted[0]: raw}
        out: list[Facts | None] = []
        for name in names:
            if name is None:
                out.append(_failed("exiftool not asked: the file name holds a line break"))
            elif name in entries:
                out.append(facts_from_exiftool(entries[name]))
            elif len(wanted) > 1:
                out.append(None)  # not in the batch's answer: asked again alone
            else:  # alone and no answer at all (a file that vanished): nothing to add
                out.append(Facts(origin="exiftool"))
        return out

    def _process(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                _command(self.executable),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=os.name == "posix",  # Ctrl-C reaches us, we close it
            )
            self.started += 1
        return self._proc

    def _answer(self, proc: subprocess.Popen[bytes], tag: int) -> bytes:
        """The output of ``-execute{tag}``, read until its ``{ready<tag>}`` or the deadline."""
        assert proc.stdout is not None
        marker = f"{{ready{tag}}}\n".encode()
        buffer = b""
        deadline = time.monotonic() + self.timeout
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while marker not in buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise _Stuck(f"exiftool gave no answer within {self.timeout:g} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _Stuck("exiftool stopped while reading the file")
                buffer += chunk
        return buffer.split(marker, 1)[0]

    def _stop(self, *, graceful: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if graceful and proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(b"-stay_open\nFalse\n")
                proc.stdin.flush()
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5 if graceful else 0)
        except subprocess.TimeoutExpired:
            # the relay is not reaped yet, so its group id cannot name anyone else's processes
            _kill_group(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


class _Stuck(Exception):
    """exiftool hung or died: the process is restarted."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """The relay, cat and exiftool share a session of their own: end all three."""
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:  # pragma: no cover - no relay there
        with contextlib.suppress(OSError):
            proc.kill()


def _failed(why: str) -> Facts:
    return Facts(origin="exiftool", problems=[why])


def _by_source_file(raw: bytes) -> dict[str, bytes]:
    """A batch's JSON answer split per file, keyed by exiftool's ``SourceFile``."""
    try:
        parsed = json.loads(raw.decode("utf-8", "replace") or "[]")
    except ValueError:
        return {}
    out: dict[str, bytes] = {}
    for entry in parsed if isinstance(parsed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("SourceFile"), str):
            out.setdefault(entry["SourceFile"], json.dumps([entry]).encode())
    return out


def facts_from_exiftool(raw: bytes) -> Facts:
    """exiftool's ``-j -n -G1`` answer for one file as ``Facts`` (dates labelled ``exiftool:``)."""
    facts = Facts(origin="exiftool")
    try:
        parsed = json.loads(raw.decode("utf-8", "replace") or "[]")
    except ValueError:
        facts.problems.append("exiftool gave an answer that is not JSON")
        return facts
    entry: dict[str, Any] = parsed[0] if isinstance(parsed, list) and parsed else {}
    if not isinstance(entry, dict):
        return facts
    values: dict[str, tuple[str, Any]] = {}
    for key, value in entry.items():
        group, _, tag = key.rpartition(":")
        if tag == "Error":
            facts.problems.append(f"exiftool: {clean_text(value)}")
        values.setdefault(tag, (group, value))
    _dates(facts, values)
    lat, lng = _signed(values.get("GPSLatitude")), _signed(values.get("GPSLongitude"))
    facts.location = valid_location(lat, lng)
    alt = _signed(values.get("GPSAltitude"))
    if facts.location is not None and alt is not None:
        facts.location["alt"] = round(alt, 2)
    facts.camera_make = clean_text(_text(values.get("Make")))
    facts.camera_model = clean_text(_text(values.get("Model")))
    orientation = _float(values.get("Orientation"))
    if orientation is not None and orientation.is_integer() and 1 <= orientation <= 8:
        facts.orientation = int(orientation)
    width, height = _float(values.get("ImageWidth")), _float(values.get("ImageHeight"))
    if width and height and width.is_integer() and height.is_integer():
        facts.width, facts.height = int(width), int(height)
    return facts


def _dates(facts: Facts, values: dict[str, tuple[str, Any]]) -> None:
    offset = _text(values.get("OffsetTimeOriginal"))
    subsec = _text(values.get("SubSecTimeOriginal"))
    for tag in ("DateTimeOriginal", "CreateDate"):
        if tag not in values:
            continue
        group, value = values[tag]
        text = (_text((group, value)) or "").removesuffix(" DST").strip()
        utc = group.startswith(_UTC_GROUPS) and len(text) == 19
        parsed = parse_exif_datetime(
            text,
            subsec=subsec if tag == "DateTimeOriginal" else None,
            offset=(offset if tag == "DateTimeOriginal" else None) or ("Z" if utc else None),
        )
        if parsed and not parsed.startswith("1904-01-01"):  # QuickTime's zero
            facts.dates[f"exiftool:{tag}"] = parsed


def _text(item: tuple[str, Any] | None) -> str | None:
    if item is None or item[1] is None or isinstance(item[1], (dict, list)):
        return None
    return str(item[1])


def _signed(item: tuple[str, Any] | None) -> float | None:
    """A GPS value only as exiftool's Composite gives it: signed by its reference.

    Other groups (a FLIR record, the GPS IFD) print the bare magnitude, so a
    western longitude would land in Asia.
    """
    if item is None or item[0] != "Composite":
        return None
    return _float(item)


def _float(item: tuple[str, Any] | None) -> float | None:
    if item is None:
        return None
    try:
        return float(item[1])
    except (TypeError, ValueError):
        return None
