"""Hostile and broken input, end to end through the command line.

Service-supplied names with ``../``, absolute paths, control characters or
thousands of characters; zip-slip, links and bombs in Takeout parts; hostile
XMP sidecars; malformed API answers; damaged records committed in the archive;
mutated real photos. Nothing may be written outside the archive, the target
folders and the blob stores, nothing may crash with a traceback, and nothing
already stored may be lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrHandler, FlickrState
from photosync.emulators.samples import sample_image
from photosync.services.http import RetryPolicy
from tests.chaos.clirun import photosync, snapshot
from tests.chaos.harness import Expect, check_invariants, git
from tests.chaos.test_crash import flickr_settings, store_flickr_token
from tests.helpers import make_library, new_archive, records, set_prefs

pytestmark = pytest.mark.timeout(240)

BASE = "Takeout/Google Photos/Photos from 2020/"
LONG = "L" * 900


def _files_outside(tmp: Path, allowed: tuple[str, ...]) -> list[str]:
    """Files under ``tmp`` that are not in one of the allowed top-level folders."""
    return sorted(
        str(p.relative_to(tmp))
        for p in tmp.rglob("*")
        if p.is_file() and p.relative_to(tmp).parts[0] not in allowed
    )


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    sample_image(seed, (48, 32)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _sidecar(key: str, title: str, taken: int = 1_600_000_000) -> bytes:
    return json.dumps(
        {
            "title": title,
            "photoTakenTime": {"timestamp": str(taken)},
            "url": f"https://photos.google.com/photo/{key}",
        }
    ).encode()


def _hostile_takeout(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    zipped = folder / "takeout-20260101T000000Z-001.zip"
    members: list[tuple[str, bytes]] = [
        (BASE + "good.jpg", _jpeg(1)),
        (BASE + "good.jpg.json", _sidecar("GOOD", "good.jpg")),
        # zip-slip in every spelling
        ("../../escape.jpg", _jpeg(2)),
        ("/tmp/absolute-escape.jpg", _jpeg(3)),
        (BASE + "../../../../up.jpg", _jpeg(4)),
        ("C:/windows.jpg", _jpeg(5)),
        ("Takeout\\..\\..\\backslash.jpg", _jpeg(6)),
        # names and titles that must never become paths
        (BASE + "ctrl\x1b[31m\x07\r\nname.jpg", _jpeg(7)),
        (BASE + "ctrl\x1b[31m\x07\r\nname.jpg.json", _sidecar("CTRL", "../../../etc/evil\n.jpg")),
        (BASE + LONG + ".jpg", _jpeg(8)),
        (BASE + "abs.jpg", _jpeg(9)),
        (BASE + "abs.jpg.json", _sidecar("ABS", "/etc/passwd")),
        (BASE + "dots.jpg", _jpeg(10)),
        (BASE + "dots.jpg.json", _sidecar("DOTS", "..")),
        # broken sidecars: the photo is kept, the problem noted
        (BASE + "badjson.jpg", _jpeg(11)),
        (BASE + "badjson.jpg.json", b"{not json"),
        (BASE + "deep.jpg", _jpeg(12)),
        (BASE + "deep.jpg.json", b"[" * 100_000),
        (BASE + "huge.jpg", _jpeg(13)),
        (BASE + "huge.jpg.json", b'{"title": "' + b"x" * (3 * 1024 * 1024) + b'"}'),
        # a zip bomb: 64 MiB of zeros, a few KiB compressed
        (BASE + "bomb.jpg", b"\0" * (64 * 1024 * 1024)),
    ]
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(
                zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)),
                data,
                compress_type=zipfile.ZIP_DEFLATED,
            )
    tarred = folder / "takeout-20260101T000000Z-002.tgz"
    with tarfile.open(tarred, "w:gz") as archive:
        for name, data in (
            (BASE + "fromtar.jpg", _jpeg(14)),
            (BASE + "fromtar.jpg.json", _sidecar("TAR", "fromtar.jpg")),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for kind, name, target in (
            (tarfile.SYMTYPE, BASE + "passwd.jpg", "/etc/passwd"),
            (tarfile.LNKTYPE, BASE + "hard.jpg", "/etc/shadow"),
            (tarfile.SYMTYPE, BASE + "up-link.jpg", "../../../../../../tmp"),
        ):
            link = tarfile.TarInfo(name)
            link.type = kind
            link.linkname = target
            archive.addfile(link)
        device = tarfile.TarInfo(BASE + "device.jpg")
        device.type = tarfile.CHRTYPE
        archive.addfile(device)
    return [zipped, tarred]


def test_hostile_takeout_through_the_cli(tmp_path: Path) -> None:
    parts = _hostile_takeout(tmp_path / "parts")
    archive = new_archive(
        tmp_path,
        google={"type": "google-takeout", "paths": [str(p) for p in parts]},
        backup={"type": "local", "path": str(tmp_path / "backup"), "target": True, "source": False},
    )
    archive.close()
    root = archive.root
    before = _files_outside(tmp_path, ("archive", "backup"))
    result = photosync(root, "discover", expect=4)
    said = " ".join(result.output.split())
    assert "zip-slip" in said or "unsafe" in said
    assert "bomb" in said
    photosync(root, "resolve", "--auto-resolve", "simple")
    photosync(root, "replicate", "--execute", expect=(0, 4))
    photosync(root, "status")
    photosync(root, "resolve", "--list")
    # nothing escaped: only the archive and the backup folder gained files
    assert _files_outside(tmp_path, ("archive", "backup")) == before
    assert (
        not (tmp_path.parent / "escape.jpg").exists()
        and not Path("/tmp/absolute-escape.jpg").exists()
    )
    stored = records(root)
    ids = sorted(i["id"] for r in stored for i in r["instances"].get("google", []))
    assert {"GOOD", "CTRL", "ABS", "DOTS", "TAR"} <= set(ids)
    assert not any("passwd" in i or "shadow" in i or "device" in i for i in ids)
    # every file in the backup has a plain, bounded name inside the backup folder
    for path in (tmp_path / "backup").rglob("*"):
        assert path.resolve().is_relative_to((tmp_path / "backup").resolve())
        assert all(ch.isprintable() for ch in path.name) and len(path.name.encode()) <= 255
    check_invariants(root, Expect(records=len(stored)), read_data=True)


HOSTILE_LOCAL_NAMES = [
    "new\nline.jpg",
    "tab\tand\x1b[2Jescape.jpg",
    "back\\slash..\\..\\x.jpg",
    "ü" * 120 + ".jpg",
    "-rf --no-preserve-root.jpg",
    " leading and trailing .jpg",
    "CON.jpg",
    "*?<>|:.jpg",
    "\u202egnp.exe.jpg",
]


def test_hostile_file_names_in_a_local_folder(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for seed, name in enumerate(HOSTILE_LOCAL_NAMES):
        (lib / name).write_bytes(_jpeg(100 + seed))
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(lib)},
        backup={"type": "local", "path": str(tmp_path / "backup"), "target": True, "source": False},
    )
    archive.close()
    photosync(archive.root, "discover")
    photosync(archive.root, "resolve", "--auto-resolve", "simple")
    photosync(archive.root, "replicate", "--execute")
    assert _files_outside(tmp_path, ("archive", "backup", "lib")) == []
    names = [p.name for p in (tmp_path / "backup").rglob("*") if p.is_file()]
    assert len(names) == len(HOSTILE_LOCAL_NAMES)
    assert all(ch.isprintable() and ch not in "\\/" for name in names for ch in name)
    check_invariants(archive.root, Expect(records=len(HOSTILE_LOCAL_NAMES), replicated=True))


XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>&secret;</dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><x:xmpmeta xmlns:x="adobe:ns:meta/">&lol9;</x:xmpmeta>'
)


@pytest.mark.parametrize(
    "sidecar",
    [XXE, LAUGHS, "<" * 50_000, "\x00\xff garbage", "x" * (8 * 1024 * 1024)],
    ids=["xxe", "billion-laughs", "deep", "binary", "oversized"],
)
def test_hostile_xmp_sidecars(tmp_path: Path, sidecar: str) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "photo.jpg").write_bytes(_jpeg(200))
    (lib / "photo.jpg.xmp").write_text(sidecar, encoding="utf-8", errors="surrogateescape")
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.close()
    photosync(archive.root, "discover")
    (record,) = records(archive.root)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else None
    if hostname:
        assert hostname not in json.dumps(record)
    assert "lollollol" not in json.dumps(record)
    check_invariants(archive.root, Expect(records=1))


# -- malformed API answers -------------------------------------------------------------------


class _Mangler:
    """Rewrites JSON answers of the REST API: a seeded choice of node, a hostile replacement."""

    HOSTILE: tuple[Any, ...] = (
        None,
        "",
        "x" * 100_000,
        -1,
        1e308,
        [],
        {},
        "../../../etc/passwd",
        [[[[[]]]]],
        "\x00\x1b[2J",
        True,
        {"_content": None},
    )

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.active = True
        self.mangled = 0

    def __call__(self, payload: Any) -> Any:
        nodes: list[tuple[Any, Any]] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, child in value.items():
                    nodes.append((value, key))
                    walk(child)
            elif isinstance(value, list):
                for index, child in enumerate(value):
                    nodes.append((value, index))
                    walk(child)

        walk(payload)
        for _ in range(self.random.randint(1, 3)):
            if not nodes:
                break
            parent, key = self.random.choice(nodes)
            if isinstance(parent, dict) and self.random.random() < 0.3:
                parent.pop(key, None)
            else:
                with contextlib.suppress(IndexError, KeyError):
                    parent[key] = self.random.choice(self.HOSTILE)
            self.mangled += 1
        return payload


def _mangling_emulator(state: FlickrState, mangler: _Mangler) -> FlickrEmulator:
    class Mangling(FlickrHandler):
        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
            *,
            truncate: bool = False,
        ) -> None:
            if (
                mangler.active
                and status == 200
                and "json" in content_type
                and "/services/rest" in self.path
            ):
                with contextlib.suppress(ValueError):
                    body = json.dumps(mangler(json.loads(body))).encode()
            super()._send(status, body, content_type, headers, truncate=truncate)

    emulator = FlickrEmulator(state)
    emulator._httpd.RequestHandlerClass = Mangling  # same server, hostile answers
    return emulator


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt, rng: 0.001)
    yield


@pytest.mark.parametrize("seed", range(12))
def test_malformed_flickr_answers(tmp_path: Path, seed: int, fast_retries: None) -> None:
    state = FlickrState()
    state.seed(15, video_every=5)
    mangler = _Mangler(seed)
    with _mangling_emulator(state, mangler) as emulator:
        store_flickr_token(state, perms="read")
        archive = new_archive(tmp_path, flickr=flickr_settings(emulator))
        set_prefs(archive, commit_every=4)
        archive.close()
        for _ in range(2):
            photosync(archive.root, "discover", "--full-scan", expect=(0, 4, 7))
        assert mangler.mangled
        kept = snapshot(archive.root / "photos")
        mangler.active = False
        photosync(archive.root, "discover", "--full-scan")
    # a mangled answer may have made a video look like a photo (its poster frame was then
    # stored): that record is kept, its instance superseded by the real video; every photo is
    # present exactly once with the right bytes, and nothing from the mangled runs went away
    stored = check_invariants(archive.root, Expect(present={"flickr": 15}), read_data=False)
    truth = {p.id: hashlib.sha256(p.content()).hexdigest() for p in state.photos.values()}
    present = {
        i["id"]: r["content_hash"][7:]
        for r in stored
        for i in r["instances"]["flickr"]
        if i["status"] == "present"
    }
    assert present == truth
    assert set(kept) <= set(snapshot(archive.root / "photos"))


# -- damaged records in the archive ----------------------------------------------------------


def test_damaged_records_committed_in_the_archive(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 10)
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        backup={"type": "local", "path": str(tmp_path / "backup"), "target": True, "source": False},
    )
    archive.close()
    root = archive.root
    photosync(root, "discover")
    files = sorted((root / "photos").rglob("*.json"))
    healthy_commit = git(root, "rev-parse", "HEAD").stdout.strip()
    damage = {
        files[0]: b"{not json at all",
        files[1]: json.dumps({"no": "photo_id"}).encode(),
        files[2]: json.dumps([1, 2, 3]).encode(),
        files[3]: b"\xff\xfe\x00binary",
        files[4]: json.dumps(
            {**json.loads(files[4].read_text()), "visibility": "everyone!"}
        ).encode(),
    }
    for path, data in damage.items():
        path.write_bytes(data)
    (root / "photos" / "2023" / "stray.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "photos" / "2023" / "stray.json").write_bytes(b"")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a hand edit gone wrong")
    # every command copes: no traceback, the damage is reported, never overwritten
    discover = photosync(root, "discover", "--full-scan", expect=(0, 4))
    assert "damaged record" in " ".join(discover.output.split())
    photosync(root, "resolve", "--auto-resolve", "simple")
    photosync(root, "replicate", "--execute", expect=(0, 4))
    photosync(root, "status")
    photosync(root, "resolve", "--list", "--json")
    verify = photosync(root, "verify", expect=6)
    said = " ".join(verify.output.split())
    for path in damage:
        assert path.name in said, path.name
        assert path.read_bytes() == damage[path]  # untouched
    # the undamaged photos went on as usual
    healthy = [p for p in files if p not in damage]
    backup = [p for p in (tmp_path / "backup").rglob("*") if p.is_file()]
    assert len(backup) >= len(healthy)
    # restoring the files from git history heals the archive
    for path in damage:
        rel = str(path.relative_to(root))
        git(root, "checkout", healthy_commit, "--", rel)
    (root / "photos" / "2023" / "stray.json").unlink()
    git(root, "commit", "-qam", "restore from history")
    photosync(root, "discover", "--full-scan")
    photosync(root, "resolve", "--auto-resolve", "simple")
    photosync(root, "replicate", "--execute")
    check_invariants(
        root, Expect(records=10, present={"lib": 10, "backup": 10}, replicated=True), history=False
    )


# -- mutated real photos through the whole discover path ------------------------------------


SAMPLES = [
    "photos/camera/Canon_40D.jpg",
    "photos/camera/Nikon_D70.jpg",
    "photos/png_webp/sampleWithExifData.png",
    "photos/video/QuickTime.mov",
    "photos/heic/samplefilehub.heif",
    "photos/xmp/BlueSquare.jpg",
]


@pytest.mark.shared
def test_mutated_real_photos_through_discover(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from photosync.blobstore.base import hash_file
    from photosync.workflow.discover import discover

    originals = [
        (Path(name).suffix, (testdata / name).read_bytes()[: 512 * 1024])
        for name in SAMPLES
        if (testdata / name).exists()
    ]
    assert originals

    @settings(
        max_examples=int(os.environ.get("PHOTOSYNC_CHAOS_FUZZ", "25")),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        picks=st.lists(
            st.tuples(
                st.integers(0, len(originals) - 1),
                st.lists(
                    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=16
                ),
                st.none() | st.floats(0.01, 1),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def one_library(picks: list[tuple[int, list[tuple[float, int]], float | None, bool]]) -> None:
        tmp = tmp_path_factory.mktemp("fuzz")
        lib = tmp / "lib"
        lib.mkdir()
        for number, (index, edits, cut, header) in enumerate(picks):
            suffix, data = originals[index]
            mutated = bytearray(data)
            span = min(len(mutated), 4096) if header else len(mutated)
            for where, value in edits:
                mutated[int(where * span)] = value
            if cut is not None:
                mutated = mutated[: max(1, int(len(mutated) * cut))]
            (lib / f"m{number}{suffix}").write_bytes(bytes(mutated))
        archive = new_archive(tmp, lib={"type": "local", "path": str(lib)})
        archive.lock()
        try:
            report = discover(archive)
        finally:
            archive.close()
        assert report.failed == 0, report.services[0].failed
        digests = {hash_file(p)[0] for p in lib.iterdir()}
        stored = records(archive.root)
        assert {r["content_hash"][7:] for r in stored} == digests
        check_invariants(archive.root, Expect(records=len(digests)), read_data=False)
        shutil.rmtree(tmp, ignore_errors=True)

    one_library()
