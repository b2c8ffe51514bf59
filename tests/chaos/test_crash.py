"""SIGKILL discover and replicate at random observed points, re-run, check every invariant.

Phases: discover from a local folder, from the Flickr emulator and from a
generated Takeout; replicate to a local folder, to the Flickr emulator and to
an S3 location (moto); resolve --auto-resolve with quality variants (killed
while fingerprinting or while joining), resolve --interactive on a
pseudo-terminal (killed after a random answer) and verify --repair of a local
location (killed while copying). Each test runs once per trial (``--trials N``); the kill
point of trial ``t`` is drawn from a generator seeded with the phase, ``t`` and
``$PHOTOSYNC_CHAOS_SEED``, so a failure names a reproducible point.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from photosync.archive.archive import Archive
from photosync.credentials import CredentialStore
from photosync.emulators.flickr import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    FlickrEmulator,
    FlickrState,
)
from photosync.emulators.google import GoogleEmulator, GoogleState
from photosync.emulators.rehearsal import google_browser
from photosync.emulators.takeout import generate_takeout
from photosync.services.flickr.auth import run_oauth_flow
from photosync.services.google.auth import GoogleAuth
from tests.chaos.harness import (
    Expect,
    Record,
    check_invariants,
    record_file_count,
    run,
    run_and_kill,
    run_on_terminal,
    target_digests,
    target_file_count,
)
from tests.chaos.s3proxy import S3Proxy
from tests.helpers import (
    assert_check_clean,
    comparable,
    conflicting_library,
    killed_after,
    make_library,
    new_archive,
    records,
    run_cli,
    set_prefs,
)
from tests.workflow.test_identity_resolution import _photo as variant_photo
from tests.workflow.test_identity_resolution import _reencode as reencode

pytestmark = pytest.mark.timeout(600)

N_LOCAL = 80
N_FLICKR = 60
N_FLICKR_TARGET = 40
SEED = os.environ.get("PHOTOSYNC_CHAOS_SEED", "0")
PREFS = {"commit_every": 10, "hash_workers": 2, "max_parallel_uploads": 2}


def kill_point(phase: str, trial: int, high: int) -> int:
    return random.Random(f"{phase}:{SEED}:{trial}").randrange(1, max(2, high))


def flickr_settings(emulator: FlickrEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "type": "flickr",
        "endpoints": emulator.endpoints(),
        "rate_limit": {"requests_per_hour": 36_000_000},
        "ticket_poll_s": 0.05,
        **extra,
    }


def store_flickr_token(
    state: FlickrState, name: str = "flickr", perms: str = "write"
) -> dict[str, Any]:
    """The connector reads its token from the CredentialStore ($PHOTOSYNC_CONFIG_DIR, file backend)."""
    token, secret = state.issue_access_token(perms)
    credentials = {
        "api_key": state.api_key,
        "api_secret": state.api_secret,
        "oauth_token": token,
        "oauth_token_secret": secret,
        "perms": perms,
        "user_nsid": state.nsid,
    }
    CredentialStore().set(name, credentials)
    return credentials


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chaos-library") / "lib"
    make_library(root, N_LOCAL)
    return root


@pytest.fixture(scope="module")
def cache() -> dict[str, Any]:
    """Reference runs and templates, built once inside the first test that needs them."""
    return {}


def cached(cache: dict[str, Any], key: str, build: Callable[[], Any]) -> Any:
    if key not in cache:
        cache[key] = build()
    return cache[key]


def crash_and_rerun(
    root: Path, args: list[str], progress: Callable[[], bool], *, phase: str, kill_at: int
) -> None:
    killed = run_and_kill(root, args, progress)
    assert killed.reached or killed.finished_first, f"{phase}: kill point {kill_at} never reached"
    assert "Traceback" not in killed.stderr, killed.stderr
    run(root, *args)


# -- discover ----------------------------------------------------------------------------


def _local_archive(tmp: Path, library: Path) -> Path:
    archive = new_archive(tmp, lib={"type": "local", "path": str(library)})
    set_prefs(archive, **PREFS)
    archive.close()
    return archive.root


def test_discover_local_folder(
    tmp_path: Path, library: Path, cache: dict[str, Any], trial: int
) -> None:
    def reference() -> Any:
        root = _local_archive(tmp_path / "reference", library)
        run(root, "discover")
        return comparable(root)

    expected = cached(cache, "discover-local", reference)
    root = _local_archive(tmp_path, library)
    kill_at = kill_point("discover-local", trial, N_LOCAL - 5)
    crash_and_rerun(
        root,
        ["discover"],
        lambda: record_file_count(root) >= kill_at,
        phase="discover-local",
        kill_at=kill_at,
    )
    check_invariants(root, Expect(records=N_LOCAL, present={"lib": N_LOCAL}))
    assert comparable(root) == expected


@contextmanager
def flickr_process(count: int) -> Iterator[dict[str, str]]:
    """The Flickr emulator as its own process (``python -m photosync.emulators.flickr``),
    authorised through the real OAuth dance; yields its endpoints."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photosync.emulators.flickr",
            "--port",
            "0",
            "--seed-photos",
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        endpoints = json.loads(
            next(line for line in lines if line.startswith("services.json endpoints:")).split(
                ":", 1
            )[1]
        )
        run_oauth_flow(
            DEFAULT_API_KEY,
            DEFAULT_API_SECRET,
            "read",
            endpoints,
            lambda url: dict(parse_qsl(requests.get(url, timeout=10).text))["oauth_verifier"],
            service_name="flickr",
        )
        yield endpoints
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_discover_flickr(tmp_path: Path, cache: dict[str, Any], trial: int) -> None:
    def seeded_archive(where: Path, endpoints: dict[str, str]) -> Path:
        archive = new_archive(
            where,
            flickr={
                "type": "flickr",
                "endpoints": endpoints,
                "rate_limit": {"requests_per_hour": 36_000_000},
            },
        )
        set_prefs(archive, **PREFS)
        archive.close()
        return archive.root

    def reference() -> Any:
        with flickr_process(N_FLICKR) as endpoints:
            root = seeded_archive(tmp_path / "reference", endpoints)
            run(root, "discover")
            return comparable(root)

    expected = cached(cache, "discover-flickr", reference)
    with flickr_process(N_FLICKR) as endpoints:
        root = seeded_archive(tmp_path, endpoints)
        kill_at = kill_point("discover-flickr", trial, N_FLICKR - 5)
        crash_and_rerun(
            root,
            ["discover"],
            lambda: record_file_count(root) >= kill_at,
            phase="discover-flickr",
            kill_at=kill_at,
        )
    records = check_invariants(root, Expect(records=N_FLICKR, present={"flickr": N_FLICKR}))
    assert comparable(root) == expected
    truth = FlickrState()  # the emulator process seeded the same deterministic account
    truth.seed(N_FLICKR)
    digests = {p.id: hashlib.sha256(p.content()).hexdigest() for p in truth.photos.values()}
    for record in records:
        (instance,) = record["instances"]["flickr"]
        assert record["content_hash"] == "sha256:" + digests[instance["id"]]


def test_discover_takeout(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cache: dict[str, Any], trial: int
) -> None:
    def parts() -> list[str]:
        manifest = generate_takeout(tmp_path_factory.mktemp("takeout"), None, parts=3, seed=7)
        return [str(p) for p in manifest.parts]

    def archive_for(where: Path) -> Path:
        archive = new_archive(
            where, google={"type": "google-takeout", "paths": cached(cache, "takeout-parts", parts)}
        )
        set_prefs(archive, **{**PREFS, "commit_every": 4})
        archive.close()
        return archive.root

    def reference() -> Any:
        root = archive_for(tmp_path / "reference")
        run(root, "discover", expect=(0, 4))
        return comparable(root)

    expected = cached(cache, "discover-takeout", reference)
    total = len(expected)
    root = archive_for(tmp_path)
    kill_at = kill_point("discover-takeout", trial, total - 3)
    killed = run_and_kill(root, ["discover"], lambda: record_file_count(root) >= kill_at)
    assert killed.reached or killed.finished_first
    run(
        root, "discover", expect=(0, 4)
    )  # 4: the generated Takeout carries orphan sidecars (warnings)
    check_invariants(root, Expect(records=total))
    assert comparable(root) == expected


# -- replicate ---------------------------------------------------------------------------


def _discovered_template(
    cache: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    key: str,
    **services: dict[str, Any],
) -> Path:
    def build() -> Path:
        where = tmp_path_factory.mktemp(f"template-{key}")
        archive = new_archive(where, lib={"type": "local", "path": str(library)}, **services)
        set_prefs(archive, **PREFS)
        archive.close()
        run(archive.root, "discover")
        run(archive.root, "resolve", "--auto-resolve", "simple")
        return archive.root

    return Path(cached(cache, key, build))


def _copy(template: Path, tmp: Path) -> Path:
    root = tmp / "archive"
    shutil.copytree(template, root, symlinks=True)
    return root


def _reconfigure(
    root: Path, services: dict[str, Any] | None = None, location: dict[str, Any] | None = None
) -> None:
    archive = Archive(root)
    try:
        if services:
            configured = archive.services()
            for name, spec in services.items():
                configured[name] = {**configured.get(name, {}), **spec}
            archive.save_services(configured)
        if location:
            prefs = archive.preferences()
            prefs["blob_storage"]["locations"].append(location)
            archive.save_preferences(prefs)
        archive.commit("config: chaos trial")
    finally:
        archive.close()


def test_replicate_to_local_folder(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    cache: dict[str, Any],
    trial: int,
) -> None:
    template = _discovered_template(
        cache,
        tmp_path_factory,
        library,
        "replicate-local",
        backup={
            "type": "local",
            "path": "/nonexistent-until-the-trial",
            "target": True,
            "source": False,
        },
    )
    root = _copy(template, tmp_path)
    backup = tmp_path / "backup"
    _reconfigure(root, services={"backup": {"path": str(backup)}})
    kill_at = kill_point("replicate-local", trial, N_LOCAL - 5)
    crash_and_rerun(
        root,
        ["replicate", "--execute"],
        lambda: target_file_count(backup) >= kill_at,
        phase="replicate-local",
        kill_at=kill_at,
    )
    records = check_invariants(
        root,
        Expect(
            records=N_LOCAL,
            present={"lib": N_LOCAL, "backup": N_LOCAL},
            replicated=True,
            located_everywhere=True,
        ),
    )
    # exactly one copy of each photo in the folder: nothing copied twice, nothing skipped, no temp left
    assert target_digests(backup) == sorted(r["content_hash"][7:] for r in records)
    assert not list(backup.rglob(".photosync-*"))


def test_replicate_to_flickr(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    cache: dict[str, Any],
    trial: int,
) -> None:
    small = cached(cache, "small-library", lambda: library.parent / "small")
    if not small.exists():
        small.mkdir()
        for path in sorted(library.rglob("*.jpg"))[:N_FLICKR_TARGET]:
            shutil.copy2(path, small / path.name)
    template = _discovered_template(
        cache,
        tmp_path_factory,
        small,
        "replicate-flickr",
        flickr={
            "type": "flickr",
            "target": True,
            "source": False,
            "rate_limit": {"requests_per_hour": 36_000_000},
            "ticket_poll_s": 0.05,
        },
    )
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        root = _copy(template, tmp_path)
        _reconfigure(root, services={"flickr": {"endpoints": emulator.endpoints()}})
        store_flickr_token(state)

        def uploads() -> int:
            return sum(1 for entry in list(state.requests_log) if entry["kind"] == "upload")

        kill_at = kill_point("replicate-flickr", trial, N_FLICKR_TARGET - 3)
        records = _replicate_killed_then_rerun(
            root, "flickr", lambda: uploads() >= kill_at, phase="replicate-flickr", kill_at=kill_at
        )
        # nothing uploaded twice: one upload per photo, and Flickr holds each photo once
        assert uploads() == N_FLICKR_TARGET, f"{uploads()} uploads for {N_FLICKR_TARGET} photos"
        held = sorted(hashlib.sha256(p.content()).hexdigest() for p in state.photos.values())
        assert held == sorted(r["content_hash"][7:] for r in records)
        by_id = {r["instances"]["flickr"][0]["id"]: r for r in records}
        assert sorted(by_id) == sorted(state.photos)
        assert all(
            p.privacy == (0, 0, 0) for p in state.photos.values()
        )  # private, as the records say


def _replicate_killed_then_rerun(
    root: Path, service: str, reached: Callable[[], bool], *, phase: str, kill_at: int
) -> list[Record]:
    """``replicate --execute`` killed once ``reached``, run again; the records after it,
    every photo present on the library and on ``service`` and replicated."""
    crash_and_rerun(
        root,
        ["replicate", "--execute"],
        reached,
        phase=phase,
        kill_at=kill_at,
    )
    return check_invariants(
        root,
        Expect(
            records=N_FLICKR_TARGET,
            present={"lib": N_FLICKR_TARGET, service: N_FLICKR_TARGET},
            replicated=True,
        ),
    )


def test_replicate_to_google_photos(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    cache: dict[str, Any],
    trial: int,
) -> None:
    """Killed among parallel byte uploads and batchCreate calls: the re-run reuses the
    tokens it kept or finds what a batchCreate made, and Google holds each photo once."""
    small = cached(cache, "small-library", lambda: library.parent / "small")
    if not small.exists():
        small.mkdir()
        for path in sorted(library.rglob("*.jpg"))[:N_FLICKR_TARGET]:
            shutil.copy2(path, small / path.name)
    template = _discovered_template(
        cache,
        tmp_path_factory,
        small,
        "replicate-google",
        gphotos={
            "type": "google-photos",
            "target": True,
            "source": False,
            "requests_per_hour": 36_000_000,
        },
    )
    with GoogleEmulator(GoogleState()) as emulator:
        root = _copy(template, tmp_path)
        settings = {"endpoints": emulator.endpoints()}
        _reconfigure(root, services={"gphotos": settings})
        store = CredentialStore()
        client_id, client_secret = next(iter(emulator.state.clients.items()))
        store.set("gphotos", {"client_id": client_id, "client_secret": client_secret})
        GoogleAuth.for_service("gphotos", settings, store=store).authorize(
            google_browser, timeout=30
        )
        # bytes uploads seen, then items created: the kill lands in either phase
        kill_at = kill_point("replicate-google", trial, N_FLICKR_TARGET + 3)

        def progress() -> int:
            stats = emulator.state.stats
            return int(stats["uploads"]) + len(emulator.state.app_items()) // 10

        records = _replicate_killed_then_rerun(
            root,
            "gphotos",
            lambda: progress() >= kill_at,
            phase="replicate-google",
            kill_at=kill_at,
        )
        items = emulator.state.app_items()
        assert len(items) == N_FLICKR_TARGET, f"{len(items)} items for {N_FLICKR_TARGET} photos"
        assert sorted(i.sha256 for i in items) == sorted(r["content_hash"][7:] for r in records)
        assert sorted(r["instances"]["gphotos"][0]["id"] for r in records) == sorted(
            i.id for i in items
        )
        assert emulator.state.stats["batch_create_max_items"] <= 50


def test_replicate_to_s3(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    cache: dict[str, Any],
    s3_endpoint: str,
    s3_admin: Any,
    fresh_bucket: str,
    trial: int,
) -> None:
    template = _discovered_template(cache, tmp_path_factory, library, "replicate-s3")
    root = _copy(template, tmp_path)
    with S3Proxy(s3_endpoint) as proxy:
        location = {
            "name": "s3",
            "type": "s3",
            "bucket": fresh_bucket,
            "prefix": "chaos/",
            "endpoint_url": proxy.url,
            "region": "us-east-1",
            "addressing_style": "path",
        }
        if trial % 2:
            location["multipart_threshold"] = 1  # every blob goes multipart: resumable uploads
        _reconfigure(root, location=location)

        def objects() -> int:
            return int(
                s3_admin.list_objects_v2(Bucket=fresh_bucket, Prefix="chaos/").get("KeyCount", 0)
            )

        kill_at = kill_point("replicate-s3", trial, N_LOCAL - 5)
        killed = run_and_kill(root, ["replicate", "--execute"], lambda: objects() >= kill_at)
        assert killed.reached or killed.finished_first
        run(root, "replicate", "--execute")
        records = check_invariants(root, Expect(records=N_LOCAL, located_everywhere=True))
        keys = sorted(  # the originals (the archive's own copy is beside them, in archive/)
            o["Key"]
            for o in s3_admin.list_objects_v2(Bucket=fresh_bucket, Prefix="chaos/sha256/")[
                "Contents"
            ]
        )
        assert keys == sorted(
            f"chaos/sha256/{r['content_hash'][7:9]}/{r['content_hash'][7:]}" for r in records
        )
        doubled = {key: n for key, n in proxy.landed.items() if n > 1}
        assert not doubled, f"uploaded more than once: {doubled}"
        assert sum(n for key, n in proxy.landed.items() if "/sha256/" in key) == N_LOCAL
        # a multipart upload cut by the kill was resumed and completed, none left dangling
        assert not s3_admin.list_multipart_uploads(Bucket=fresh_bucket).get("Uploads")


# -- resolve and verify --repair (issue 10, hole 2) --------------------------------------

N_VARIANTS = 12  # originals, each with a recompressed, halved copy on a second "service"


def _instances_held(root: Path) -> set[tuple[str, str, str]]:
    """Every (service, item, bytes) any record holds: a merge moves them, never drops one."""
    return {
        (service, inst["id"], inst.get("content_hash") or record["content_hash"])
        for record in records(root)
        for service, insts in record["instances"].items()
        for inst in insts
    }


def _variants_template(cache: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build() -> Path:
        where = tmp_path_factory.mktemp("template-variants")
        for index in range(N_VARIANTS):
            original = variant_photo(where / "phone", index)
            reencode(original, where / "google" / original.name)
        # and one edited copy (a crop): an edit variant, a question for a human
        edited = variant_photo(where / "phone", N_VARIANTS)
        reencode(edited, where / "laptop" / "edited.jpg", scale=1.0, quality=90, crop=0.8)
        archive = new_archive(
            where,
            phone={"type": "local", "path": str(where / "phone")},
            google={"type": "local", "path": str(where / "google")},
            laptop={"type": "local", "path": str(where / "laptop")},
        )
        set_prefs(archive, **PREFS)
        archive.close()
        run(archive.root, "discover")
        return archive.root

    return Path(cached(cache, "variants", build))


def test_resolve_auto_with_quality_variants(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cache: dict[str, Any], trial: int
) -> None:
    """Killed while fingerprinting (even trials) or while joining variants (odd trials)."""
    template = _variants_template(cache, tmp_path_factory)
    total = 2 * N_VARIANTS + 2

    def reference() -> Any:
        root = _copy(template, tmp_path / "reference")
        run(root, "resolve", "--auto-resolve", "simple")
        return comparable(root)

    expected = cached(cache, "resolve-variants", reference)
    root = _copy(template, tmp_path)
    held = _instances_held(root)
    pending = root / ".photosync" / "pending-paths"

    def listed() -> int:
        try:
            return pending.read_text().count("\n")
        except FileNotFoundError:
            return 0

    if trial % 2 == 0:
        kill_at = kill_point("resolve-fingerprint", trial, total)
        progress: Callable[[], bool] = lambda: listed() >= kill_at  # noqa: E731
    else:
        kill_at = kill_point("resolve-merge", trial, N_VARIANTS)
        progress = lambda: record_file_count(root) <= total - kill_at  # noqa: E731
    crash_and_rerun(
        root, ["resolve", "--auto-resolve", "simple"], progress, phase="resolve", kill_at=kill_at
    )
    assert _instances_held(root) == held  # not one copy lost, none invented
    check_invariants(root, Expect(records=N_VARIANTS + 2), read_data=False)
    assert comparable(root) == expected
    assert_check_clean(root)


def _answer(screen: bytes) -> bytes:
    """Join an edited copy with its original; otherwise take the first option."""
    question = screen[screen.rfind(b"Conflict:") :]
    return b"2\n" if b"Same photo: join them" in question else b"1\n"


def _decisions(root: Path) -> list[tuple[str, str, str, Any]]:
    return sorted(
        (r["photo_id"], c["id"], c["status"], (c["resolution"] or {}).get("value"))
        for r in records(root)
        for c in r["conflicts"]
    )


def test_resolve_interactive(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cache: dict[str, Any], trial: int
) -> None:
    """Killed after a random answer: decisions written so far are kept, the rest asked again."""

    def template() -> Path:
        where = tmp_path_factory.mktemp("template-interactive")
        root = Path(conflicting_library(where, count=4))
        edited = variant_photo(where / "phone", 0)
        reencode(edited, where / "laptop" / "edited.jpg", scale=1.0, quality=90, crop=0.8)
        for name in ("phone", "laptop"):
            run_cli(
                "--archive",
                str(root),
                "service",
                "add",
                name,
                "--type",
                "local",
                "--path",
                str(where / name),
            )
        run(root, "discover")
        run(root, "resolve", "--auto-resolve", "simple")
        return root

    source = Path(cached(cache, "interactive-template", template))

    def reference() -> Any:
        root = _copy(source, tmp_path / "reference")
        done = run_on_terminal(root, ["resolve", "--interactive"], _answer)
        assert done.returncode == 0, done.screen.decode(errors="replace")
        return done.answers, comparable(root), _decisions(root)

    questions, expected, expected_decisions = cached(cache, "interactive-reference", reference)
    root = _copy(source, tmp_path)
    held = _instances_held(root)
    kill_at = kill_point("resolve-interactive", trial, questions)
    killed = run_on_terminal(root, ["resolve", "--interactive"], _answer, kill_after=kill_at)
    assert killed.killed or killed.returncode == 0, killed.screen.decode(errors="replace")
    done = run_on_terminal(root, ["resolve", "--interactive"], _answer)
    assert done.returncode == 0 and b"Traceback" not in done.screen, done.screen.decode(
        errors="replace"
    )
    assert _instances_held(root) == held
    check_invariants(root, Expect(), read_data=False)
    assert comparable(root) == expected
    assert [d[:3] for d in _decisions(root)] == [d[:3] for d in expected_decisions]
    assert_check_clean(root)


def test_verify_repair(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    library: Path,
    cache: dict[str, Any],
    trial: int,
) -> None:
    """Killed while copying good copies over missing ones: the re-run repairs the rest."""
    nas_template = tmp_path_factory.getbasetemp() / "nas-template"

    def build() -> Path:
        template = _discovered_template(cache, tmp_path_factory, library, "replicate-s3")
        root = _copy(template, tmp_path_factory.mktemp("template-repair"))
        _reconfigure(root, location={"name": "nas", "type": "local", "path": str(nas_template)})
        run(root, "replicate", "--execute")
        return root

    template = Path(cached(cache, "repair-template", build))
    root = _copy(template, tmp_path)
    nas = tmp_path / "nas"
    shutil.copytree(nas_template, nas)
    _reconfigure_location(root, "nas", str(nas))
    originals = nas / "sha256"  # beside it, archive/ holds the archive's own copy
    blobs = sorted(p for p in originals.rglob("*") if p.is_file())
    rng = random.Random(f"repair:{SEED}:{trial}")
    for path in rng.sample(blobs, N_LOCAL // 2):  # the disk lost half of them
        path.chmod(0o600)
        path.unlink()
    kill_at = kill_point("verify-repair", trial, N_LOCAL // 2)
    killed = run_and_kill(
        root,
        ["verify", "--repair"],
        lambda: target_file_count(originals) >= N_LOCAL // 2 + kill_at,
    )
    assert killed.reached or killed.finished_first
    assert "Traceback" not in killed.stderr, killed.stderr
    run(root, "verify", "--repair")
    check_invariants(root, Expect(records=N_LOCAL, located_everywhere=True), read_data=False)
    assert target_file_count(originals) == N_LOCAL
    assert_check_clean(root)


def _reconfigure_location(root: Path, name: str, path: str) -> None:
    archive = Archive(root)
    try:
        prefs = archive.preferences()
        for location in prefs["blob_storage"]["locations"]:
            if location["name"] == name:
                location["path"] = path
        archive.save_preferences(prefs)
        archive.commit(f"config: {name} moved for this trial")
    finally:
        archive.close()


def test_merge_killed_between_survivor_and_removal(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cache: dict[str, Any]
) -> None:
    """SIGKILL right after the first merged record's file is removed: the recovery step
    committed that removal while the survivor holding its copies was never written."""
    root = _copy(_variants_template(cache, tmp_path_factory), tmp_path)
    held = _instances_held(root)
    killed_after(
        root,
        "from photosync.workflow.resolve import auto_resolve\n"
        "real = type(archive).remove_record\n"
        "def remove_record(self, photo_id):\n"
        "    real(self, photo_id)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "type(archive).remove_record = remove_record\n"
        "auto_resolve(archive)",
    )
    run(root, "verify", "--repair")  # a writer: recovery runs
    assert _instances_held(root) == held
    run(root, "resolve", "--auto-resolve", "simple")
    assert _instances_held(root) == held
    check_invariants(root, Expect(records=N_VARIANTS + 2), read_data=False)
    assert_check_clean(root)


def test_edit_merge_decision_killed_between_survivor_and_removal(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cache: dict[str, Any]
) -> None:
    """The same for a person's "same photo: join them" (decide_in_archive)."""
    root = _copy(_variants_template(cache, tmp_path_factory), tmp_path)
    run(root, "resolve", "--auto-resolve", "simple")
    held = _instances_held(root)
    killed_after(
        root,
        "from photosync.workflow.resolve import decide_in_archive, pending\n"
        "record, conflict = next((r, c) for r, c in pending(archive) if c['type'] == 'edit_variant')\n"
        "real = type(archive).remove_record\n"
        "def remove_record(self, photo_id):\n"
        "    real(self, photo_id)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "type(archive).remove_record = remove_record\n"
        "decide_in_archive(archive, record['photo_id'], conflict['id'], choice='merge', by='t')",
    )
    run(root, "verify", "--repair")  # a writer: recovery runs
    assert _instances_held(root) == held
    assert len(records(root)) == N_VARIANTS + 1  # the edited copy joined its original
    check_invariants(root, Expect(records=N_VARIANTS + 1), read_data=False)
    assert_check_clean(root)
