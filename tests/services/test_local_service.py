"""The local folder service runs the shared conformance suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.blobstore.base import hash_file
from photosync.services.local import (
    LocalFolderService,
    portable_name,
    raw_name_hex,
    safe_filename,
)
from tests.helpers import make_library
from tests.services.conformance import (
    SourceCase,
    SourceConformance,
    TargetCase,
    TargetConformance,
    sample_record,
)


class TestLocalSource(SourceConformance):
    @pytest.fixture
    def source_case(self, tmp_path: Path) -> SourceCase:
        paths = make_library(tmp_path / "lib", 5)
        (tmp_path / "lib" / "notes.txt").write_text("not a photo")
        (tmp_path / "lib" / ".hidden.jpg").write_bytes(paths[0].read_bytes())
        service = LocalFolderService("lib", {"path": str(tmp_path / "lib")})
        expected = {p.relative_to(tmp_path / "lib").as_posix(): hash_file(p)[0] for p in paths}

        def change_one() -> str:
            os.utime(paths[2], (1_000_000_000, 1_000_000_000))
            return paths[2].relative_to(tmp_path / "lib").as_posix()

        return SourceCase(service, expected, change_one)


class TestLocalTarget(TargetConformance):
    @pytest.fixture
    def target_case(self, tmp_path: Path) -> TargetCase:
        paths = make_library(tmp_path / "seed", 3)
        photos = [(sample_record(p.read_bytes(), name=p.name), p.read_bytes()) for p in paths]
        root = tmp_path / "out"
        service = LocalFolderService("out", {"path": str(root)})

        def contents() -> list[tuple[str, str, str | None]]:
            return [
                (p.relative_to(root).as_posix(), hash_file(p)[0], None)
                for p in sorted(root.rglob("*"))
                if p.is_file()
            ]

        return TargetCase(service, contents, photos)


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/x.jpg", "x.jpg"),
        ("a\x00b\nc.jpg", "abc.jpg"),
        ("..", "photo"),
        ("CON<>:|?*.jpg", "CON.jpg"),
        ("x" * 5000 + ".jpeg", "x" * 195 + ".jpeg"),
        ("..\\..\\win.jpg", "win.jpg"),
    ],
)
def test_safe_filename_never_escapes_the_folder(hostile: str, expected: str) -> None:
    assert safe_filename(hostile) == expected


def test_upload_puts_hostile_names_inside_the_target(tmp_path: Path) -> None:
    import io

    data = make_library(tmp_path / "seed", 1)[0].read_bytes()
    record = sample_record(data, name="../../../../escape\n.jpg")
    service = LocalFolderService("out", {"path": str(tmp_path / "out")})
    result = service.upload(
        record, io.BytesIO(data), visibility=__import__("photosync.model").model.Visibility.PRIVATE
    )
    written = (tmp_path / "out" / result.instance_id).resolve()
    assert written.is_relative_to((tmp_path / "out").resolve())
    assert written.name == "escape.jpg"
    assert not (tmp_path / "escape.jpg").exists()


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_every_file_name_has_a_storable_form_and_its_raw_bytes_back(raw: bytes) -> None:
    name = os.fsdecode(raw)
    stored = portable_name(name)
    stored.encode("utf-8")  # JSON, git and sqlite take it
    assert bytes.fromhex(raw_name_hex(name)) == raw
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert stored != name
    else:
        assert stored == name  # a valid name is never rewritten
