"""The HTML gallery on a scanned, clustered, named fivecelebs catalog, checked in a real browser."""

import collections
import html
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface.catalog import Catalog
from photoface.cli import EXIT_ERROR, app
from photoface.gallery import build_gallery
from photoface.thumbnails import default_folder

runner = CliRunner()
HOSTILE = "<script>alert(1)</script>"
TYPED = "Anne-Marie O'Brien"  # needs the shell's quoting
CHROMIUM = Path(os.environ.get("PHOTOFACE_CHROMIUM", "/usr/bin/chromium"))


def _run(*args):
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def named(fivecelebs, tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """fivecelebs scanned and clustered; each person named after its majority folder, plus a hostile name."""
    db = tmp_path_factory.mktemp("gallery") / "c.db"
    _run("--db", db, "scan", fivecelebs)
    _run("--db", db, "cluster")
    names = {}
    with Catalog.open(db) as catalog:
        for person in catalog.people():
            folders = collections.Counter(Path(f["photo"]).parent.name for f in catalog.faces(person=person["id"]))
            names[person["id"]] = folders.most_common(1)[0][0]
        hostile = catalog.create_person(HOSTILE)
        catalog.assign_faces([catalog.faces()[0]["id"]], hostile, confirmed=True)
    for person, name in names.items():
        _run("--db", db, "name", person, name)
    return db, names | {hostile: HOSTILE}


@pytest.fixture(scope="module")
def gallery(named, tmp_path_factory) -> Path:
    db, _ = named
    output = tmp_path_factory.mktemp("report") / "out"
    _run("--db", db, "report", "-o", output)
    return output


def test_pages_escape_names_and_list_everyone(gallery, named):
    _, names = named
    index = (gallery / "index.html").read_text()
    assert HOSTILE not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    for person, name in names.items():
        assert (gallery / "people" / f"{person}.html").exists()
        assert html.escape(name) in index
        assert html.escape(f'photoface rename {person} "..."') in index
    assert (gallery / "unassigned.html").exists()


def test_thumbnails_are_cached_and_cleaned(named, tmp_path):
    db, _ = named
    output = tmp_path / "out"
    with Catalog.open(db) as catalog:
        first = build_gallery(catalog, output)
        assert first.thumbnails_made + first.thumbnails_reused == first.faces > 100
        assert first.missing_photos == []
        stale = output / "thumbs" / "999999-0000000000.jpg"
        stale.write_bytes(b"old")
        shared = default_folder(catalog.path)  # the catalog's cache, which photoface serve uses too
        for thumb in [*(output / "thumbs").glob("1-*.jpg"), *shared.glob("1-*.jpg")]:
            thumb.unlink()
        second = build_gallery(catalog, output)
    assert (second.thumbnails_made, second.thumbnails_reused, second.thumbnails_removed) == (1, first.faces - 1, 1)
    assert not stale.exists()
    assert len(list(shared.glob("*.jpg"))) == first.faces
    made = next(shared.glob("1-*.jpg"))
    assert made.stat().st_ino == (output / "thumbs" / made.name).stat().st_ino  # linked, not copied


def test_no_photo_links_writes_no_path(named, tmp_path, fivecelebs):
    db, _ = named
    _run("--db", db, "report", "-o", tmp_path / "out", "--no-photo-links")
    for page in (tmp_path / "out").rglob("*.html"):
        text = page.read_text()
        assert str(fivecelebs) not in text and "file:" not in text and str(db) not in text, page


def test_refuses_a_folder_that_is_not_a_report(named, tmp_path):
    db, _ = named
    (tmp_path / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["--db", str(db), "report", "-o", str(tmp_path)])
    assert result.exit_code == EXIT_ERROR
    assert "not empty" in result.stderr and str(tmp_path) in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_thumbnails_of_exif_rotated_photos_are_upright(fivecelebs, tmp_path):
    """The same photo stored upright and stored sideways with an EXIF rotation give the same thumbnail."""
    source = next((fivecelebs / "train" / "Madonna").glob("*.jpg"))
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(source, library / "upright.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the pixels are stored turned the other way
    Image.open(source).transpose(Image.Transpose.ROTATE_90).save(library / "sideways.jpg", quality=95, exif=exif)
    db = tmp_path / "c.db"
    _run("--db", db, "scan", library)
    with Catalog.open(db) as catalog:
        report = build_gallery(catalog, tmp_path / "out")
    thumbs = {}
    for page in ("upright", "sideways"):
        with Catalog.open(db) as catalog:
            face = max(catalog.faces(photo=str(library / f"{page}.jpg")), key=lambda f: f["size"])
        thumb = next((tmp_path / "out" / "thumbs").glob(f"{face['id']}-*.jpg"))
        thumbs[page] = np.asarray(Image.open(thumb).convert("L"), dtype=np.float32)
    assert report.thumbnails_made >= 2
    same = np.abs(thumbs["upright"] - thumbs["sideways"]).mean()
    turned = np.abs(thumbs["upright"] - np.rot90(thumbs["sideways"])).mean()
    assert same < 12 < turned, (same, turned)


def test_gallery_in_a_real_browser(gallery, named, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    if not CHROMIUM.exists():
        reason = f"no browser at {CHROMIUM} (apt-get install chromium, or set PHOTOFACE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    _, names = named
    dialogs = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto((gallery / "index.html").as_uri())
        shown = page.locator(".card .name").all_inner_texts()
        for person, name in names.items():
            assert name in shown
            card = page.locator(f"#person-{person}")
            card.locator(".name-box").fill(TYPED)
            command = card.locator("code").inner_text()
            assert command == f"photoface rename {person} {shlex.quote(TYPED)}"
            card.locator("button.copy").click()
            playwright_api.expect(card.locator("button.copy")).to_have_attribute("data-copied", command)
        _scroll_through(page)
        broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length")
        images = page.evaluate("document.images.length")
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        page.goto((gallery / "people" / f"{next(iter(names))}.html").as_uri())
        _scroll_through(page)
        person_broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length")
        page.screenshot(path=str(tmp_path / "person.png"), full_page=True)
        browser.close()
    assert images > 40 and broken == 0 and person_broken == 0
    assert dialogs == []
    assert all(url.startswith("file://") for url in requests), [u for u in requests if not u.startswith("file://")]
    assert (tmp_path / "index.png").stat().st_size > 10_000


def _scroll_through(page) -> None:
    """Lazy images load only near the viewport: scroll to the end, then wait for every image."""
    height = page.evaluate("document.body.scrollHeight")
    for _ in range(0, height + 900, 600):
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(30)
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=10_000)
