"""Builders shared by tests: archives, libraries, CLI runs."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from click.testing import CliRunner, Result

from photosync.archive.archive import PENDING_FILE, Archive, parse_pending
from photosync.cli import cli
from photosync.emulators.samples import write_jpeg


def run_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def make_library(
    root: Path, count: int, *, start_seed: int = 0, size: tuple[int, int] = (96, 64)
) -> list[Path]:
    """``count`` unique small JPEGs with EXIF dates spread over two years."""
    paths = []
    for index in range(count):
        seed = start_seed + index
        taken = datetime(2023 + seed % 2, 1 + seed % 12, 1 + seed % 28, seed % 24, seed % 60, 0)
        paths.append(
            write_jpeg(
                root / f"sub{seed % 3}" / f"IMG_{seed:05d}.jpg", seed=seed, size=size, taken=taken
            )
        )
    return paths


def new_archive(tmp: Path, **services: dict[str, Any]) -> Archive:
    archive = Archive.init(tmp / "archive")
    archive.save_services(
        {name: {"enabled": True, "target": False, **spec} for name, spec in services.items()}
    )
    archive.commit("config: test services")
    return archive


def git_out(root: Path, *args: str) -> str:
    """``git -C ROOT ARGS``, which must succeed: its output."""
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=u", "-c", "user.email=u@x", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def photosync_run(
    cwd: Path, *args: str, config: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``photosync ARGS`` of this checkout in a process of its own, as a user runs it;
    ``config``: the machine (its config folder, credentials in a file there)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    if config is not None:
        env |= {"PHOTOSYNC_CONFIG_DIR": str(config), "PHOTOSYNC_KEYRING": "file"}
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def discovered(tmp: Path, library: Path) -> Path:
    """An archive (``tmp/archive``) with ``library`` as local service ``lib``, discovered."""
    from photosync.workflow.discover import discover

    archive = new_archive(tmp, lib={"type": "local", "path": str(library)})
    archive.lock()
    try:
        discover(archive)
    finally:
        archive.close()
    return archive.root


def resolved(root: Path) -> None:
    """One ``resolve`` with the default rules, as a writing run does it."""
    from photosync.workflow.resolve import auto_resolve

    archive = Archive(root)
    archive.lock()
    try:
        auto_resolve(archive)
    finally:
        archive.close()


def archive_with_nas(tmp: Path, count: int, *, replicated: bool = False) -> Archive:
    """A folder source ``lib`` of ``count`` photos, discovered and resolved, and a second
    storage location ``nas`` (a local folder); the archive is locked. ``replicated``:
    replicated twice too (the second run finds nothing to do: a settled archive)."""
    from photosync.workflow.config import add_location
    from photosync.workflow.discover import discover
    from photosync.workflow.replicate import replicate
    from photosync.workflow.resolve import auto_resolve

    make_library(tmp / "lib", count)
    archive = new_archive(tmp, lib={"type": "local", "path": str(tmp / "lib")})
    archive.lock()
    add_location(archive, {"name": "nas", "type": "local", "path": str(tmp / "nas")})
    archive.commit("config: a storage location")
    discover(archive)
    auto_resolve(archive)
    if replicated:
        replicate(archive, execute=True)
        replicate(archive, execute=True)
    return archive


def set_prefs(archive: Archive, **sync: Any) -> None:
    prefs = archive.preferences()
    prefs["sync_preferences"].update(sync)
    archive.save_preferences(prefs)
    archive.commit("config: test preferences")


def records(archive_root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((archive_root / "photos").rglob("*.json")):
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def comparable(archive_root: Path) -> list[Any]:
    """What must be equal between an interrupted-then-resumed run and a clean one."""
    out = []
    for record in records(archive_root):
        instances = sorted(
            (service, inst["id"], inst.get("content_hash"), inst.get("status"))
            for service, insts in record["instances"].items()
            for inst in insts
        )
        out.append(
            (
                record["photo_id"],
                record["content_hash"],
                record["processing_state"],
                instances,
                record["metadata"]["taken_date"],
            )
        )
    return sorted(out)


def photosync_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "photosync", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def git_log(archive_root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(archive_root), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def git_clean(archive_root: Path) -> bool:
    out = subprocess.run(
        ["git", "-C", str(archive_root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == ""


class FakeClock:
    """Time that only moves when someone sleeps: backoff and polling cost nothing."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


def assert_check_clean(archive_root: Path, *extra: str) -> dict[str, Any]:
    """The archive's own consistency check (``photosync check``) must be clean.

    Every workflow, chaos and journey test ends with this: a test that only looks at
    what it changed misses what it broke elsewhere.
    """
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "photosync",
            "--archive",
            str(archive_root),
            "check",
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PHOTOSYNC_NO_PROMPT": "1"},
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, (
        f"photosync check exit {out.returncode}:\n{out.stdout}\n{out.stderr}"
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def write_xmp(
    path: Path, *, caption: str | None = None, date: str | None = None, gps: str | None = None
) -> None:
    """An XMP sidecar with a caption, a taken date and/or a place (``lat,lng`` in XMP's form)."""
    parts = []
    if caption is not None:
        parts.append(
            f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt></dc:description>'
        )
    if date is not None:
        parts.append(f"<exif:DateTimeOriginal>{date}</exif:DateTimeOriginal>")
    if gps is not None:
        lat, lng = gps.split(";")
        parts.append(
            f"<exif:GPSLatitude>{lat}</exif:GPSLatitude><exif:GPSLongitude>{lng}</exif:GPSLongitude>"
        )
    path.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        f"{''.join(parts)}</rdf:Description></rdf:RDF></x:xmpmeta>\n",
        encoding="utf-8",
    )


def conflicting_library(tmp_path: Path, count: int = 3) -> str:
    """The same photos in two folders whose sidecars disagree on caption, date and place."""
    for index in range(count):
        name = f"IMG_{index:04d}.jpg"
        write_jpeg(tmp_path / "a" / name, seed=40 + index, taken=None, make=None, model=None)
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / "b" / name).write_bytes((tmp_path / "a" / name).read_bytes())
        write_xmp(
            tmp_path / "a" / f"{name}.xmp",
            caption=f"Beach {index}",
            date=f"2021-05-0{index + 1}T10:00:00",
            gps="48,8.25N;11,34.5E",
        )
        write_xmp(
            tmp_path / "b" / f"{name}.xmp",
            caption=f"Lake {index}",
            date=f"2022-06-0{index + 1}T11:00:00",
            gps="40,26.0N;3,42.0W",
        )
    root = str(tmp_path / "archive")
    assert run_cli("init", root).exit_code == 0
    for name in ("a", "b"):
        folder = str(tmp_path / name)
        added = run_cli(
            "--archive", root, "service", "add", name, "--type", "local", "--path", folder
        )
        assert added.exit_code == 0, added.output
    assert run_cli("--archive", root, "discover").exit_code == 0
    return root


def pending_listed(archive_root: Path, prefix: str = "") -> list[str]:
    """The paths a killed run listed in its pending-paths file (under ``prefix``), sorted."""
    text = (archive_root / PENDING_FILE).read_text(encoding="utf-8")
    return sorted(rel for rel in parse_pending(text) if rel.startswith(prefix))


#: ``killed_after`` code: a resolve killed with every record written, before its commit
KILLED_RESOLVE = """
from photosync.workflow.resolve import auto_resolve
import photosync.archive.archive as module

def commit(self, *args, **kwargs):
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.commit_in_background = commit
auto_resolve(archive)
"""


def join_pair(tmp: Path) -> Path:
    """An archive (root returned) that discovered two sizes of one picture taken at one
    time: resolve's automatic rules join them (the larger keeps both copies)."""
    lib = tmp / "lib"
    taken = datetime(2022, 5, 5, 12, 0, 0)
    write_jpeg(lib / "small.jpg", seed=3, size=(96, 64), taken=taken)
    write_jpeg(lib / "large.jpg", seed=3, size=(192, 128), taken=taken)
    archive = new_archive(tmp, lib={"type": "local", "path": str(lib)})
    archive.lock()
    from photosync.workflow.discover import discover  # the helpers import no workflow

    discover(archive)
    archive.close()
    return archive.root


def ids_in_head(archive_root: Path) -> set[str]:
    """Every copy id the records committed at HEAD hold."""
    held = set()
    for rel in git_out(archive_root, "ls-files", "photos").splitlines():
        if rel.endswith(".json"):
            record = json.loads(git_out(archive_root, "show", f"HEAD:{rel}"))
            for copies in record["instances"].values():
                held.update(copy["id"] for copy in copies)
    return held


def killed_after(archive_root: Path, code: str) -> None:
    """Run ``code`` (``archive`` is the locked Archive) in a process that then dies by SIGKILL:
    what a run killed after those writes and before its commit leaves behind."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from photosync.archive.archive import Archive\n"
        "archive = Archive(Path(sys.argv[1]))\n"
        "archive.lock()\n" + code + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(archive_root)], check=False)
    assert done.returncode == -9, done


def read_until(fd: int, needle: bytes, deadline_s: float = 60.0) -> bytes:
    """What a terminal shows until ``needle`` appears (the deadline only bounds a hang)."""
    seen = b""
    end = time.monotonic() + deadline_s
    while needle not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    assert needle in seen, seen.decode(errors="replace")
    return seen


def metadata_accuracy_bench() -> ModuleType:
    """bench/metadata_accuracy.py as a module: the tests hold its figures to a floor."""
    path = Path(__file__).resolve().parents[1] / "bench" / "metadata_accuracy.py"
    spec = importlib.util.spec_from_file_location("metadata_accuracy_bench", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
