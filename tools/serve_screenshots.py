"""Screenshots of every page of ``photoface serve``, at a laptop's 1280x800 and a phone's 390x844,
on a real catalog, for docs/serve.md and for looking at each page after a change.

    python tools/serve_screenshots.py --photos ../shared/data/fivecelebs   # scans into a temp catalog
    python tools/serve_screenshots.py --db scanned.db                      # copies it (never changes it)

The catalog is clustered, then made to look like a library half done: two people named, a few
faces of the largest left to nobody and four of the second split off (a second cluster of one
person, as clustering sometimes makes). A panorama of 8000x4000 pixels made of eight of its photos
is scanned in too, for the photo page's zoom. Writes ``serve-<page>-<size>.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's benchmarks
from benchmarks.common import serving

SIZES = {"1280x800": {"width": 1280, "height": 800}, "390x844": {"width": 390, "height": 844}}
CHROMIUM = "/usr/bin/chromium"


def photoface(db: Path, *args: object) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "photoface", "--db", str(db), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"photoface {' '.join(map(str, args))}: {done.stderr.strip()}")
    return done.stdout


def panorama(db: Path, folder: Path) -> Path:
    """An 8000x4000 photo of eight of the catalog's photos side by side (four by two), scanned in."""
    from PIL import Image

    from photoface.catalog import Catalog

    with Catalog.open(db) as catalog:
        paths = sorted({face["photo"] for face in catalog.faces()})[::9][:8]
    wide = Image.new("RGB", (8000, 4000), "white")
    for n, path in enumerate(paths):
        with Image.open(path) as image:
            wide.paste(image.convert("RGB").resize((2000, 2000)), ((n % 4) * 2000, (n // 4) * 2000))
    folder.mkdir(parents=True, exist_ok=True)
    wide.save(folder / "panorama.jpg", quality=90)
    photoface(db, "scan", folder)
    return folder / "panorama.jpg"


def prepare(db: Path) -> dict:
    """Cluster, then leave the library half done (see the module's docstring); returns who is who."""
    from photoface.catalog import Catalog
    from photoface.people import most_typical_first

    photoface(db, "cluster", "--full")
    with Catalog.open(db) as catalog:
        people = catalog.people()
        folder = {
            p["id"]: Counter(Path(f["photo"]).parent.name for f in catalog.faces(person=p["id"])).most_common(1)[0][0]
            for p in people
        }
        largest, second, third = (p["id"] for p in people[:3])
        catalog.unassign_faces([f["id"] for f in catalog.faces(person=largest)][-3:])
        part = [f["id"] for f in most_typical_first(catalog.gallery_faces(person=second))][:4]
        split = catalog.create_person()
        catalog.set_auto_assignments([(face, second, split) for face in part])
    photoface(db, "name", second, folder[second])
    photoface(db, "name", third, folder[third])
    return {"largest": largest, "second": second, "third": third, "split": split, "name": folder}


def settle(page) -> None:
    """Images loaded (polled from outside: the CSP forbids the string wait_for_function evaluates)."""
    deadline = time.monotonic() + 20
    page.wait_for_load_state("networkidle")  # lazy images in view have been asked for by then
    loaded = "[...document.images].every(i => i.complete || (i.loading === 'lazy' && !i.currentSrc))"
    while not page.evaluate(loaded) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.wait_for_timeout(150)


def shoot(db: Path, url: str, known: dict, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from photoface.catalog import Catalog

    with Catalog.open(db) as catalog:
        dated = [f for f in catalog.gallery_faces(person=known["second"]) if catalog.photo(f["photo_id"])["taken_at"]]
        known["photo"] = (dated or catalog.gallery_faces(person=known["second"]))[0]["photo_id"]
        frames = catalog.photo_frames()
        known["crowded"] = max(
            (p for p in frames if p["width"] < 1000), key=lambda p: len(catalog.gallery_faces(photo_id=p["id"]))
        )["id"]
        known["panorama"] = next((p["id"] for p in frames if p["path"].endswith("panorama.jpg")), None)
    shots: list[Path] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for size, viewport in SIZES.items():
            page = browser.new_page(viewport=viewport, device_scale_factor=1)
            page.goto(url)  # the token becomes the cookie
            tour(page, url.partition("/?token=")[0], known, Snap(page, out, size, shots))
            page.close()
        browser.close()
    return shots


class Snap:
    """``snap(name)``: the page as it is now, into ``out/serve-<name>-<size>.png``."""

    def __init__(self, page, out: Path, size: str, shots: list[Path]) -> None:
        self.page, self.out, self.size, self.shots = page, out, size, shots

    def __call__(self, name: str) -> None:
        from PIL import Image

        settle(self.page)
        path = self.out / f"serve-{name}-{self.size}.png"
        shot = Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")
        # 256 colours, dithered: a third of the bytes, and the pages read the same.
        fewer = shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        fewer.save(path, optimize=True)
        self.shots.append(path)


def tour(page, base: str, known: dict, snap: Snap) -> None:
    """Every page, and the moments that matter on them (a name given, a taken name, a zoom)."""
    largest, second = known["largest"], known["second"]
    page.goto(f"{base}/")
    snap("people")
    box = page.locator(f"#person-{largest} .name-box")
    box.fill(known["name"][second])  # a name someone has: the merge offer, in the card
    box.press("Enter")
    page.locator(f"#person-{largest} .confirm-merge").wait_for()
    page.locator(f"#person-{largest} .note").scroll_into_view_if_needed()
    snap("people-merge-offer")
    page.goto(f"{base}/?show=unnamed")
    box = page.locator(f"#person-{largest} .name-box")
    box.fill(known["name"][largest])
    box.press("Enter")
    page.locator("#toast-undo").wait_for()
    snap("people-named")
    with page.expect_navigation():
        page.locator("#toast-undo").click()  # the next pages show the library as it was
    page.goto(f"{base}/?show=named&sort=name")
    snap("people-named-tab")
    page.goto(f"{base}/?q=nobody-by-this-name")
    snap("people-no-match")
    page.goto(f"{base}/people/{second}")
    snap("person")
    page.locator(".shot").first.click()
    page.locator("#viewer[open]").wait_for()
    snap("person-viewer")
    page.goto(f"{base}/people/{second}?tab=faces")
    snap("person-faces")
    page.goto(f"{base}/photos/{known['crowded']}")
    snap("photo")
    page.locator(".show-face").first.click()
    page.wait_for_timeout(300)
    snap("photo-zoomed")
    if known["panorama"] is not None:
        page.goto(f"{base}/photos/{known['panorama']}")
        snap("photo-panorama")
    page.goto(f"{base}/review")
    snap("review")
    page.goto(f"{base}/unassigned")
    snap("unassigned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--photos", type=Path, help="a folder of photos to scan into a temporary catalog")
    source.add_argument("--db", type=Path, help="a scanned catalog to copy (it is not changed)")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="photoface-shots-"))
    try:
        db = work / "catalog.db"
        if args.db:
            with contextlib.closing(sqlite3.connect(args.db)) as src, contextlib.closing(sqlite3.connect(db)) as dst:
                src.backup(dst)  # SQLite's copy: a file copy would miss what is in the -wal file
        else:
            photoface(db, "scan", args.photos)
        known = prepare(db)
        panorama(db, work / "panorama")  # after the names: clustering places its faces, changes no one
        photoface(db, "cluster")
        with serving(db) as (url, _):
            for path in shoot(db, url, known, args.out):
                print(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
