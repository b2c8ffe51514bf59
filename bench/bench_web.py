"""`photosync web` benchmark: the first page of a 10,000-photo archive answers in < 1 s.

    python bench/bench_web.py                 # 10,000 photos
    python bench/bench_web.py --photos 2000

The archive is synthetic: records written straight as photosync writes them
(canonical JSON, photos/YYYY/MM/<uuid>.json, one commit), dates spread over ten
years, every tenth photo with a place, a caption and an album, one in a hundred with an
open caption conflict, and a small JPEG
original in blobs/ for each. The server is the real one (werkzeug, threaded, on
127.0.0.1) and is asked over HTTP, like a browser does:

- first page: GET /review (the page the printed address opens), and GET /timeline,
  on a cold server (nothing cached, not even the catalog);
- the first page's thumbnails, cold (made now) and cached;
- search, map and albums once the catalog is read, and the catalog's first read.

Target: the first page (review and timeline, each) < 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image
from werkzeug.serving import make_server

from photosync.archive.archive import Archive
from photosync.archive.jsonio import canonical_bytes
from photosync.model import new_record, record_relpath
from photosync.web.app import create_app, web_state

TARGET_S = 1.0


def _jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, comment=f"bench {seed}".encode())
    return out.getvalue()


def build(root: Path, count: int) -> None:
    archive = Archive.init(root)
    archive.close()
    rng = random.Random(16)
    blobs = root / "blobs" / "sha256"
    for index in range(count):
        data = _jpeg(index)
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest[:2]).mkdir(parents=True, exist_ok=True)
        (blobs / digest[:2] / digest).write_bytes(data)
        record = new_record(
            content_hash=f"sha256:{digest}",
            size=len(data),
            media={
                "kind": "photo",
                "mime_type": "image/jpeg",
                "format": "jpeg",
                "width": 64,
                "height": 48,
            },
            canonical_source=f"phone:IMG_{index:05d}.jpg",
            source_of_truth_path=f"local:sha256/{digest[:2]}/{digest}",
            now="2026-01-01T00:00:00Z",
        )
        year, month, day = 2015 + index % 10, 1 + rng.randrange(12), 1 + rng.randrange(28)
        meta = record["metadata"]
        meta.update(
            taken_date=f"{year}-{month:02d}-{day:02d}T{index % 24:02d}:{index % 60:02d}:00",
            taken_date_source="exif:DateTimeOriginal",
            filename=f"IMG_{index:05d}.jpg",
            camera_info={"make": "Canon", "model": f"EOS {index % 7}D"},
        )
        if index % 10 == 0:
            meta["location"] = {"lat": 40 + rng.random() * 10, "lng": rng.random() * 20}
            meta["caption"] = f"Holiday {index}"
            meta["albums"] = [f"Album {index % 30}"]
        record["instances"] = {
            "phone": [
                {
                    "id": f"IMG_{index:05d}.jpg",
                    "content_hash": f"sha256:{digest}",
                    "status": "present",
                    "quality": "original",
                    "observed": {"filename": f"IMG_{index:05d}.jpg"},
                }
            ]
        }
        record["processing_state"] = "resolved"
        if index % 100 == 0:  # one photo in a hundred waits for a decision
            record["processing_state"] = "discovered"
            record["conflicts"] = [
                {
                    "id": "metadata_mismatch:caption",
                    "type": "metadata_mismatch",
                    "field": "caption",
                    "description": "instances disagree on caption",
                    "services": ["laptop", "phone"],
                    "resolution_required": True,
                    "status": "open",
                    "options": [
                        {"source": "phone", "value": f"Holiday {index}"},
                        {"source": "laptop", "value": f"Trip {index}"},
                    ],
                    "resolution": None,
                }
            ]
        path = root / record_relpath(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(canonical_bytes(record))
    subprocess.run(["git", "-C", str(root), "add", "-A", "photos"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "gc.auto=0", "commit", "-qm", "bench: records"], check=True
    )


def _timed(session: requests.Session, url: str) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = session.get(url, timeout=120)
    return time.perf_counter() - started, response


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-", ignore_cleanup_errors=True) as tmp:
        os.environ.setdefault("PHOTOSYNC_CONFIG_DIR", str(Path(tmp) / "config"))
        os.environ.setdefault("PHOTOSYNC_KEYRING", "file")
        root = Path(tmp) / "archive"
        started = time.perf_counter()
        build(root, args.photos)
        print(f"built {args.photos} records in {time.perf_counter() - started:.1f} s")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = create_app(root, token="bench")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        session = requests.Session()
        figures: dict[str, float] = {}
        try:
            session.get(f"{base}/static/photosync.css?token=bench", timeout=60)  # the cookie
            figures["first page: /review (cold)"], _ = _timed(session, f"{base}/review")
            figures["first page: /timeline (cold)"], timeline = _timed(session, f"{base}/timeline")
            thumbs = re.findall(r'src="(/thumb/[^"]+)"', timeline.text)
            started = time.perf_counter()
            for url in thumbs:
                assert session.get(base + url, timeout=120).status_code == 200
            figures[f"its {len(thumbs)} thumbnails, made now"] = time.perf_counter() - started
            started = time.perf_counter()
            for url in thumbs:
                session.get(base + url, timeout=120)
            figures[f"its {len(thumbs)} thumbnails, cached"] = time.perf_counter() - started
            figures["/review again"], _ = _timed(session, f"{base}/review")
            figures["/timeline again"], _ = _timed(session, f"{base}/timeline")
            figures["/search?q=holiday (cold: reads every record)"], found = _timed(
                session, f"{base}/search?q=holiday"
            )
            figures["/map"], _ = _timed(session, f"{base}/map")
            figures["/albums"], _ = _timed(session, f"{base}/albums")
            expected = len(range(0, args.photos, 10))
            assert found.status_code == 200 and f"{expected} photo(s)" in found.text
        finally:
            server.shutdown()
            web_state(app).thumbs.close()
    for what, seconds in figures.items():
        print(f"{what:45s} {seconds * 1000:8.0f} ms")
    first = max(
        figures["first page: /timeline (cold)"],
        figures["first page: /review (cold)"],
    )
    verdict = "ok" if first < TARGET_S else "TOO SLOW"
    print(
        json.dumps({"photos": args.photos, "first_page_s": round(first, 3), "target_s": TARGET_S})
    )
    print(f"first page {first:.3f} s (target < {TARGET_S} s): {verdict}")
    return 0 if first < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
