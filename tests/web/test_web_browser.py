"""`photosync web` in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium) on an archive made from the shared photos.

One browser and one archive for the module. Screenshots of the review page, the
timeline and a photo page go to ``test-artifacts/web/`` (git-ignored; the path is
printed) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from werkzeug.serving import make_server

from photosync.archive.archive import Archive
from photosync.model import Visibility, approved_level
from photosync.web.thumbs import posters
from tests.conftest import REPO_ROOT
from tests.helpers import assert_check_clean, git_log, records
from tests.web.conftest import TOKEN, logged_in, make_app
from tests.web.webarchive import CAPTIONED, EDITED, WIDENED, build, conflict_of

pytestmark = [pytest.mark.shared, pytest.mark.timeout(300)]

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


@dataclass
class Site:
    root: Path
    base: str
    app: Flask


@pytest.fixture(scope="module")
def site(
    testdata: Path, module_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = build(testdata, tmp_path_factory.mktemp("webshared"))
    app = make_app(root)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def artefacts() -> Path:
    folder = Path(os.environ.get("PHOTOSYNC_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(driver: Any, artefacts: Path, name: str) -> None:
    path = artefacts / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def _wait(driver: Any, condition: Any, timeout: float = 90) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def _loaded(driver: Any, images: list[Any]) -> bool:
    """Every image finished loading and decoded to real pixels."""
    return bool(
        images
        and all(
            driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image
            )
            for image in images
        )
    )


def _card(driver: Any, photo_id: str, conflict_id: str) -> Any:
    from selenium.webdriver.common.by import By

    for card in driver.find_elements(By.CSS_SELECTOR, "article[data-card]"):
        form = card.find_element(By.CSS_SELECTOR, "form[data-answers]")
        if (
            form.find_element(By.NAME, "photo_id").get_attribute("value") == photo_id
            and form.find_element(By.NAME, "conflict_id").get_attribute("value") == conflict_id
        ):
            return card
    raise AssertionError(f"no card for {photo_id} {conflict_id}")


def _record(root: Path, photo_id: str) -> dict[str, Any]:
    (found,) = [r for r in records(root) if r["photo_id"] == photo_id]
    return found


def _conflict(root: Path, photo_id: str, conflict_id: str) -> dict[str, Any]:
    return next(c for c in _record(root, photo_id)["conflicts"] if c["id"] == conflict_id)


def test_review_in_the_browser_by_click_by_keyboard_and_a_confirmed_widening(
    site: Site, browser: Any, artefacts: Path, same_home: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root = site.root
    edited, pair = conflict_of(root, EDITED, "edit_variant")
    captioned, caption_conflict = conflict_of(root, CAPTIONED, "metadata_mismatch")
    widened, unapproved = conflict_of(root, WIDENED, "visibility_conflict")
    browser.get(f"{site.base}/?token={TOKEN}")
    assert browser.current_url.endswith("/review")  # the token left the address bar
    # the edit variant: both copies' thumbnails load
    card = _card(browser, edited, pair)
    copies = card.find_elements(By.CSS_SELECTOR, ".pair img")
    assert len(copies) == 2
    _wait(browser, lambda d: _loaded(d, copies))
    _wait(browser, lambda d: _loaded(d, d.find_elements(By.CSS_SELECTOR, "article img")))
    _shot(browser, artefacts, "review")
    # a larger view on click, closed with Esc
    copies[0].click()
    lightbox = browser.find_element(By.ID, "lightbox")
    _wait(browser, lambda d: lightbox.is_displayed())
    _wait(browser, lambda d: _loaded(d, [lightbox.find_element(By.TAG_NAME, "img")]))
    ActionChains(browser).send_keys("\ue00c").perform()  # Esc
    _wait(browser, lambda d: not lightbox.is_displayed())

    # by click: the phone's caption
    head = len(git_log(root))
    card = _card(browser, captioned, caption_conflict)
    card.find_element(By.CSS_SELECTOR, "button[name=choice][value=phone]").click()
    _wait(browser, lambda d: "decision(s) recorded" in d.page_source)
    assert _record(root, captioned)["metadata"]["caption"] == "Harbour at dawn"
    assert _conflict(root, captioned, caption_conflict)["resolution"]["by"] == "alice"
    assert len(git_log(root)) == head + 1
    assert git_log(root)[0] == "resolve: decisions by alice (interactive)"

    # by keyboard: focus the edit pair's card, "1" keeps both as separate photos
    card = _card(browser, edited, pair)
    card.find_element(By.CSS_SELECTOR, ".desc").click()
    ActionChains(browser).send_keys("1").perform()
    _wait(browser, lambda d: _conflict(root, edited, pair)["status"] == "resolved")
    assert _conflict(root, edited, pair)["resolution"]["choice"] == "separate"
    other = pair.split(":", 1)[1]
    mirror = _conflict(root, other, f"edit_variant:{edited}")
    assert mirror["status"] == "resolved" and mirror["resolution"]["choice"] == "separate"

    # a widening: asked first, written only after "y"
    browser.get(f"{site.base}/review")
    card = _card(browser, widened, unapproved)
    card.find_element(By.CSS_SELECTOR, "button[name=choice][value=canonical]").click()
    confirm = card.find_element(By.CSS_SELECTOR, ".confirm")
    _wait(browser, lambda d: confirm.is_displayed())
    assert "public" in confirm.text
    assert _conflict(root, widened, unapproved)["status"] == "open"  # nothing written yet
    _shot(browser, artefacts, "review-confirm-widening")
    ActionChains(browser).send_keys("y").perform()
    _wait(browser, lambda d: _conflict(root, widened, unapproved)["status"] == "resolved")
    archive = Archive(root)
    try:
        archive.ensure_index()
        assert approved_level(archive.load_record(widened), archive.seals.verify) is (
            Visibility.PUBLIC
        )
    finally:
        archive.close()
    subjects = git_log(root)
    assert subjects[:3] == ["resolve: decisions by alice (interactive)"] * 3
    _wait(browser, lambda d: "No conflict waits for a decision" in d.page_source)
    assert_check_clean(root)


def test_timeline_photo_page_and_map_render_with_their_images(
    site: Site, browser: Any, artefacts: Path, same_home: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.base}/timeline?token={TOKEN}")
    assert browser.current_url.endswith("/timeline")
    months = browser.find_elements(By.CSS_SELECTOR, ".months a")
    assert months
    total = 0
    for index in range(len(months)):
        browser.find_elements(By.CSS_SELECTOR, ".months a")[index].click()
        images = browser.find_elements(By.CSS_SELECTOR, ".grid img")
        _wait(browser, lambda d, images=images: _loaded(d, images))
        total += len(images)
    assert total == len(records(site.root))
    browser.get(f"{site.base}/timeline")
    _wait(browser, lambda d: _loaded(d, d.find_elements(By.CSS_SELECTOR, ".grid img")))
    _shot(browser, artefacts, "timeline")
    browser.find_element(By.CSS_SELECTOR, ".grid a").click()
    _wait(browser, lambda d: _loaded(d, d.find_elements(By.CSS_SELECTOR, "img.zoom")))
    _wait(browser, lambda d: _loaded(d, d.find_elements(By.CSS_SELECTOR, ".originals img")))
    history = browser.find_elements(By.CSS_SELECTOR, ".history tr")
    assert len(history) >= 2  # a header and at least the discover commit
    _shot(browser, artefacts, "photo")
    # the map works without tiles: one marker per photo with a location
    placed = [r for r in records(site.root) if r["metadata"].get("location")]
    assert placed
    browser.get(f"{site.base}/map")
    _wait(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#map path.leaflet-interactive")) == len(placed)
        ),
    )
    _shot(browser, artefacts, "map")


def test_thumbnails_of_heic_png_webp_rotated_jpeg_and_video(site: Site, same_home: Path) -> None:
    client = logged_in(site.app)
    kinds = {}
    for record in records(site.root):
        response = client.get(f"/thumb/{record['photo_id']}/m")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        name = record["metadata"]["filename"]
        kinds[name] = response.headers["X-Thumb-Kind"]
        with tempfile.TemporaryFile() as data:
            data.write(response.get_data())
            data.seek(0)
            with Image.open(data) as thumb:
                size = thumb.size
        if name == "landscape_6.jpg":  # stored 450x600 with orientation 6: shown landscape
            assert size[0] > size[1]
    for name in ("IMG_2927.HEIC", "hopper.png", "HTC Desire.webp", "landscape_6.jpg"):
        assert kinds[name] == "image", name
    assert kinds["with-gps.mp4"] == ("poster" if posters() else "placeholder")
    assert_check_clean(site.root)
