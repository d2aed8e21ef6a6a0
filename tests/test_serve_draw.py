"""Drawing a face the detector missed in ``serve``'s photo page (issue 23): a real server, real
Chromium, a real photo whose face the catalog does not have; the drawn face is checked with the
CLI as ``photoface add-face`` would make it, at a desktop size with the mouse and at a phone size
with a finger."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from photoface.catalog import Catalog
from tests.conftest import base_and_token, data_path, serving
from tests.test_serve import _browser, _images_loaded, cli, cli_json, copy_catalog

SHOTS = Path("/tmp/shots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def missed(tmp_path_factory) -> dict:
    """A two-person photo of the shared groups set, scanned; one of its two detected faces is then
    deleted from the catalog, which is what a face the detector missed looks like to the page."""
    folder = tmp_path_factory.mktemp("draw")
    photo = folder / "photos" / "two.jpg"
    photo.parent.mkdir()
    shutil.copyfile(data_path("groups", "2008_001009.jpg"), photo)
    db = folder / "pristine.db"
    cli(db, "scan", photo.parent)
    with Catalog.open(db) as catalog:
        faces = catalog.faces(photo=str(photo))
        assert len(faces) == 2, faces
        gone = faces[0]
        with catalog.transaction():
            catalog.delete_faces([gone["id"]])
        row = catalog.photos_for_regions([str(photo)])[0]
    return {"db": db, "path": photo, "photo": row["id"], "size": (row["width"], row["height"]), "box": gone["box"]}


@pytest.fixture
def db(missed, tmp_path) -> Path:
    copy = tmp_path / "c.db"
    copy_catalog(missed["db"], copy)
    return copy


def _overlap(a, b) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _on_screen(page, missed: dict) -> tuple[float, float, float, float]:
    """The missed face's box in CSS pixels of the page: the photo is shown scaled to fit."""
    shown = page.locator("#photo").bounding_box()
    width, height = missed["size"]
    x, y, w, h = missed["box"]
    sx, sy = shown["width"] / width, shown["height"] / height
    assert abs(sx - sy) < 0.01  # shown at its own aspect
    return shown["x"] + x * sx, shown["y"] + y * sy, w * sx, h * sy


def _named_faces(db: Path, name: str) -> list[dict]:
    return [face for face in cli_json(db, "faces") if face["name"] == name]


def _check_drawn(db: Path, missed: dict, name: str) -> dict:
    """One face of ``name`` on the photo, at the missed face's box, embedded and marked drawn;
    ``find`` lists the photo."""
    (face,) = _named_faces(db, name)
    assert Path(face["photo"]) == missed["path"]
    assert face["origin"] in ("drawn", "drawn box")
    assert face["assigned"] == "manual"
    assert _overlap(face["box"], missed["box"]) > 0.7, (face["box"], missed["box"])
    if face["origin"] == "drawn box":  # made from the box itself: the box as drawn, within a few pixels
        assert np.abs(np.subtract(face["box"], missed["box"])).max() <= 3
    with Catalog.open(db) as catalog:
        (stored,) = [f for f in catalog.faces(photo=str(missed["path"]), embeddings=True) if f["id"] == face["id"]]
    assert abs(np.linalg.norm(stored["embedding"]) - 1) < 1e-3
    assert cli_json(db, "find", name) == [str(missed["path"])]
    return face


def _open_photo(driver, url: str, missed: dict, size: dict, **options):
    browser = _browser(driver)
    page = browser.new_page(viewport=size, **options)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # a script that failed
    page.goto(url)
    base, _ = base_and_token(url)
    page.goto(f"{base}/photos/{missed['photo']}")
    _images_loaded(page)
    return browser, page, errors


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    _images_loaded(page)
    page.screenshot(path=str(SHOTS / f"draw-{name}.png"))


def test_draw_a_missed_face_with_the_mouse(missed, db):
    """1280x800: Draw a face, drag over the face, type a name, Enter: the face is the name's, at
    that box, with an embedding; `find` lists the photo; the toast's Undo removes it again."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        browser, page, errors = _open_photo(driver, url, missed, DESKTOP)
        assert page.locator(".photo .box").count() == 1
        page.get_by_role("button", name="Draw a face").click()
        expect(page.locator("#draw-panel")).to_be_visible()
        x, y, w, h = _on_screen(page, missed)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + w / 2, y + h / 2, steps=4)
        page.mouse.move(x + w, y + h, steps=4)
        page.mouse.up()
        expect(page.locator("#draw-name")).to_be_focused()
        _shot(page, "desktop-drawn")
        page.keyboard.type("Ada Drawn")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.locator("#toast")).to_contain_text("Added a face of Ada Drawn")
        expect(page.locator(".photo .box")).to_have_count(2)  # the new box is on the photo at once
        face = _check_drawn(db, missed, "Ada Drawn")
        expect(page.locator(f"#box-{face['id']}")).to_have_class("box selected")
        _shot(page, "desktop-added")
        with page.expect_navigation():
            page.locator("#toast-undo").click()
        expect(page.locator("#toast")).to_contain_text("Undone")
        expect(page.locator(".photo .box")).to_have_count(1)
        browser.close()
    assert errors == []
    assert _named_faces(db, "Ada Drawn") == []
    assert "Ada Drawn" not in {p["name"] for p in cli_json(db, "people")}  # the person made for it went too
    assert len(cli_json(db, "faces")) == 1


def _touch_drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A finger's drag, as Chromium gets it from a touch screen (Playwright's touchscreen only taps)."""
    session = page.context.new_cdp_session(page)
    steps = [np.add(start, np.multiply(np.subtract(end, start), t / 6)) for t in range(7)]
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for x, y in steps[1:]:
        session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_draw_on_a_phone_with_a_finger(missed, db, exiftool):
    """390x844 with touch: the drag draws (the page does not scroll under it), the name box is in reach,
    and the face then stays with its name through `cluster --full` and `regions export` writes it."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        browser, page, errors = _open_photo(driver, url, missed, PHONE, is_mobile=True, has_touch=True)
        page.get_by_role("button", name="Draw a face").tap()
        x, y, w, h = _on_screen(page, missed)
        _touch_drag(page, (x, y), (x + w, y + h))  # had it scrolled the page, the box would miss the face
        expect(page.locator("#draw-name")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(page, "phone-drawn")
        page.locator("#draw-name").fill("Bea Drawn")
        with page.expect_navigation():
            page.locator("#draw-name").press("Enter")
        expect(page.locator(".photo .box")).to_have_count(2)
        _shot(page, "phone-added")
        browser.close()
    assert errors == []
    face = _check_drawn(db, missed, "Bea Drawn")
    cli(db, "cluster", "--full")
    assert [f["id"] for f in _named_faces(db, "Bea Drawn")] == [face["id"]]
    photo = Path(missed["path"])
    sidecar = photo.with_name(photo.name + ".xmp")
    assert str(sidecar) in cli_json(db, "regions", "export")["written"]
    read = subprocess.run(
        [exiftool, "-struct", "-j", "-XMP-mwg-rs:RegionInfo", str(sidecar)], capture_output=True, text=True, check=True
    )
    assert "Bea Drawn" in [region["Name"] for region in json.loads(read.stdout)[0]["RegionInfo"]["RegionList"]]


def test_keyboard_escape_and_errors(missed, db):
    """The keyboard draws too (arrows place a box, Escape cancels); a bad box, an empty name and a
    photo that can no longer be read are one-line errors in the page's toast, and change nothing."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    before = cli_json(db, "faces")
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        browser, page, errors = _open_photo(driver, url, missed, DESKTOP)
        page.locator("#draw-face").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#draw-face")).to_have_attribute("aria-pressed", "true")
        for key in ("ArrowRight", "Shift+ArrowDown", "Shift+ArrowRight"):
            page.keyboard.press(key)
        expect(page.locator("#drawn-box")).to_be_visible()
        expect(page.locator("#draw-form")).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#draw-name")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.locator("#draw-panel")).to_be_hidden()
        expect(page.locator("#drawn-box")).to_be_hidden()
        expect(page.locator("#draw-face")).to_be_focused()

        page.keyboard.press("Enter")  # again, and name nobody: the toast says so
        page.keyboard.press("ArrowLeft")
        page.locator("#draw-name").press("Enter")
        expect(page.locator("#toast.error")).to_contain_text("Type the name")

        width = missed["size"][0]
        refusals = {
            "outside": ([width - 20, 10, 60, 60], "is outside"),
            "too small": ([10, 10, 3, 40], "too small"),
            "not a box": (["a", 1, 2, 3], "box must be"),
        }
        for box, wanted in refusals.values():
            answer = page.evaluate(
                "([photo, box]) => post(`/api/photos/${photo}/faces`, {box, name: 'Nobody'})", [missed["photo"], box]
            )
            assert answer["status"] == 400 and wanted in answer["error"] and "\n" not in answer["error"], answer
        unknown = page.evaluate("() => post('/api/photos/999999/faces', {box: [1, 1, 40, 40], name: 'Nobody'})")
        assert unknown["status"] == 400 and "no photo 999999" in unknown["error"]

        moved = missed["path"].with_suffix(".away")
        missed["path"].rename(moved)
        try:
            expect(page.locator("#draw-panel")).to_be_visible()  # still drawing after the refusals: redraw
            shown = page.locator("#photo").bounding_box()
            page.mouse.move(shown["x"] + 20, shown["y"] + 20)
            page.mouse.down()
            page.mouse.move(shown["x"] + 120, shown["y"] + 140, steps=3)
            page.mouse.up()
            page.locator("#draw-name").fill("Nobody")
            page.locator("#draw-name").press("Enter")
            expect(page.locator("#toast.error")).to_contain_text(str(missed["path"]))
        finally:
            moved.rename(missed["path"])
        _shot(page, "desktop-error")
        browser.close()
    assert errors == []
    assert cli_json(db, "faces") == before
    assert "Nobody" not in {p["name"] for p in cli_json(db, "people")}
