"""``photoface serve`` as users run it: a real server process on fivecelebs, driven by Chromium
(the whole review loop, checked after each step with the CLI's JSON) and by a hostile client."""

from __future__ import annotations

import ast
import collections
import contextlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from photoface.catalog import Catalog
from photoface.cli import app
from photoface.people import most_typical_first
from photoface.review import ReviewSession
from tests.conftest import base_and_token, finish, serving, start_photoface
from tests.test_faults import _small_filesystem

runner = CliRunner()
HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM = Path(os.environ.get("PHOTOFACE_CHROMIUM", "/usr/bin/chromium"))
# Set to a folder to keep the screenshots (docs/images/ is made by tools/serve_screenshots.py).
SCREENSHOTS = os.environ.get("PHOTOFACE_SCREENSHOTS")


WEB = Path(__file__).resolve().parent.parent / "photoface" / "web"


def _web_imports() -> dict[str, set[str]]:
    """Each module of photoface.web and the photoface.web modules it imports (anywhere in it,
    lazy imports inside functions too: they make a circle all the same)."""
    modules = {}
    for path in WEB.rglob("*.py"):
        parts = path.relative_to(WEB.parent.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, one level up per extra dot
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets.add(base)
                targets |= {f"{base}.{alias.name}" for alias in node.names}  # "from pkg import module"
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_web_modules_import_in_one_direction():
    """app.py builds the app from the views; the views share views/base.py; nothing imports back up."""
    graph = _web_imports()
    assert "photoface.web.views.base" in graph and graph["photoface.web.app"]
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    importers = {module for module, targets in graph.items() if "photoface.web.app" in targets}
    assert importers == {"photoface.web"}  # only serve() there, to start it


def cli(db: Path, *args: object) -> object:
    result = runner.invoke(app, ["--db", str(db), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def cli_json(db: Path, *args: object) -> object:
    import json

    return json.loads(cli(db, *args, "--json").stdout)


def copy_catalog(source: Path, target: Path) -> None:
    """SQLite's backup: a plain file copy would miss what is still in the -wal file."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(scope="module")
def library(fivecelebs, tmp_path_factory) -> tuple[Path, dict]:
    """fivecelebs scanned and clustered, then made to need review as real libraries do: three
    faces of the largest person left unassigned by clustering, and a few faces of the second
    split into a group of their own (which clustering sometimes does to one person)."""
    db = tmp_path_factory.mktemp("serve") / "c.db"
    cli(db, "scan", fivecelebs)
    cli(db, "cluster")
    with Catalog.open(db) as catalog:
        people = catalog.people()
        folders = {
            p["id"]: collections.Counter(Path(f["photo"]).parent.name for f in catalog.faces(person=p["id"]))
            for p in people
        }
        largest, second, third = (p["id"] for p in people[:3])
        left_out = [f["id"] for f in catalog.faces(person=largest)][-3:]
        catalog.unassign_faces(left_out)
        part = [f["id"] for f in most_typical_first(catalog.gallery_faces(person=second))][:4]
        split = catalog.create_person()
        catalog.set_auto_assignments([(face, second, split) for face in part])
    truth = {person: counter.most_common(1)[0][0] for person, counter in folders.items()}
    copy_catalog(db, db.with_name("pristine.db"))
    return db, {"largest": largest, "second": second, "third": third, "split": split, "truth": truth}


def _browser(driver):
    if not CHROMIUM.exists():
        reason = f"no browser at {CHROMIUM} (apt-get install chromium, or set PHOTOFACE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return driver.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )


def _images_loaded(page) -> None:
    """Poll from outside the page: wait_for_function evaluates a string, which the app's CSP forbids."""
    deadline = time.monotonic() + 20
    # A lazy image below the fold has not started (no currentSrc): it is not one to wait for.
    while not page.evaluate("[...document.images].every(i => i.complete || (i.loading === 'lazy' && !i.currentSrc))"):
        assert time.monotonic() < deadline, "images still loading after 20 s"
        page.wait_for_timeout(50)


def _shoot(page, folder: Path, name: str) -> None:
    _images_loaded(page)
    path = folder / f"serve-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000


def _broken_images(page) -> int:
    _images_loaded(page)
    return page.evaluate("[...document.images].filter(i => i.currentSrc && !(i.naturalWidth > 0)).length")


def test_review_loop_in_a_real_browser(library, tmp_path):
    """Name by typing, merge, answer Y/N/S with the keys and undo, reject on a person's page:
    after each step the CLI's JSON shows the change, and `cluster` afterwards keeps all of it."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    db, known = library
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    outside: list[str] = []
    missing: list[str] = []  # pages and assets that answered 4xx/5xx (the API's refusals aside)
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        base, _ = base_and_token(url)
        browser = _browser(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
        page.on("response", lambda r: r.status < 400 or "/api/" in r.url or missing.append(f"{r.status} {r.url}"))
        page.goto(url)
        assert "token=" not in page.url  # swapped for a cookie
        steps = Steps(page, playwright_api.expect, db, known, base=base, shots=shots)
        steps.name_two_people()
        steps.merge_offer_next_to_the_card()
        steps.looks_like_points_to_the_split_group()
        steps.merge_the_split_group()
        answers = steps.review_with_the_keyboard()
        rejected = steps.reject_on_a_person_page()
        steps.photos_newest_first()
        steps.birth_date_on_the_person_page()
        steps.photo_and_unassigned_pages(answers[0])
        steps.hostile_name_is_text()
        browser.close()
    assert dialogs == []
    assert outside == []
    assert missing == []  # the favicon too
    for args in (("cluster",), ("cluster", "--full")):  # clustering afterwards keeps every decision
        cli(db, *args)
        steps.check_decisions_kept(answers, rejected)


# Buttons, name boxes, tabs and the merge tick (its label, the checkbox inside it is small): what
# a finger taps on the phone-sized pages.
TARGETS = ", ".join(
    (
        "button",
        "input:not([type=hidden]):not([type=checkbox])",
        "select",
        ".tabs a",
        ".card .pick",
        ".shot",
        ".alike .other a",
    )
)
SMALL = f"[...document.querySelectorAll('{TARGETS}')].filter(e => e.offsetParent && e.offsetHeight < 40)"


def test_every_page_fits_a_phone_with_finger_sized_targets(library, tmp_path):
    """At 390x844 no page scrolls sideways and every button, box and tab is at least 40 px tall."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    source, known = library
    db = tmp_path / "c.db"
    copy_catalog(source.with_name("pristine.db"), db)
    with Catalog.open(db) as catalog:
        photo = catalog.gallery_faces(person=known["second"])[0]["photo_id"]
    pages = ["/", f"/people/{known['second']}", f"/people/{known['second']}?tab=faces", f"/photos/{photo}"]
    pages += ["/review", "/unassigned", "/?q=nobody-at-all"]
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        base, _ = base_and_token(url)
        browser = _browser(driver)
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page.goto(url)
        for path in pages:
            page.goto(base + path)
            _images_loaded(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            small = page.evaluate(f"{SMALL}.map(e => e.outerHTML.slice(0, 80) + ' ' + e.offsetHeight)")
            assert small == [], (path, small)
        browser.close()


class Steps:
    """The browser test's steps; each checks what the CLI's JSON shows afterwards."""

    def __init__(self, page, expect, db: Path, known: dict, *, base: str, shots: Path) -> None:
        self.page, self.expect, self.db, self.known, self.base, self.shots = page, expect, db, known, base, shots
        self.name_of = known["truth"]
        self.split_faces: set[int] = set()

    def name_two_people(self) -> None:
        """Each name is confirmed on its card, which stays where it was, and in a toast with
        Undo; the first is undone (the CLI sees the person unnamed again) and named again."""
        page, expect = self.page, self.expect
        largest, second = self.known["largest"], self.known["second"]
        for person in (largest, second, largest):
            where = page.locator(f"#person-{person}").bounding_box()
            box = page.locator(f"#person-{person} .name-box")
            box.fill(self.name_of[person])
            to_name = page.locator('.tabs a[data-tab="unnamed"] .count')
            left = int(to_name.inner_text())
            box.press("Enter")  # no reload: the card would sort away to the named people
            expect(to_name).to_have_text(str(left - 1))  # the tab's count follows
            expect(page.locator(f"#person-{person} .name")).to_have_text(self.name_of[person])
            expect(page.locator(f"#person-{person} .note")).to_contain_text(f"Named {self.name_of[person]}")
            expect(page.locator("#toast")).to_contain_text(f"Named {self.name_of[person]}")
            now = page.locator(f"#person-{person}").bounding_box()
            assert (now["x"], now["y"]) == (where["x"], where["y"])  # the card did not move
            assert _people(self.db)[person]["name"] == self.name_of[person]
            if person == second:
                _shoot(page, self.shots, "people-named")
            if person == largest and _people(self.db)[second]["name"] is None:  # the first time: undo it
                with page.expect_navigation():
                    page.locator("#toast-undo").click()
                expect(page.locator("#toast")).to_contain_text("Undone")
                assert _people(self.db)[largest]["name"] is None
                assert all(f["assigned"] == "auto" for f in cli_json(self.db, "faces", "--person", largest))
        page.goto(f"{self.base}/")
        assert _broken_images(page) == 0
        _shoot(page, self.shots, "people")

    def merge_offer_next_to_the_card(self) -> None:
        """A name someone has: the merge is offered in the card it was typed in; taken, it merges,
        and Undo brings the split-off group back as it was."""
        page, expect = self.page, self.expect
        split, second = self.known["split"], self.known["second"]
        before = {f["id"] for f in cli_json(self.db, "faces", "--person", split)}
        box = page.locator(f"#person-{split} .name-box")
        box.fill(self.name_of[second])
        box.press("Enter")
        offer = page.locator(f"#person-{split} .confirm-merge")
        expect(offer).to_be_visible()
        typed, offered = box.bounding_box(), offer.bounding_box()
        assert 0 < offered["y"] - typed["y"] < 200 and abs(offered["x"] - typed["x"]) < 100  # right under the box
        assert split in _people(self.db)  # nothing merged until the user says so
        _shoot(page, self.shots, "people-merge-offer")
        offer.click()
        expect(page.locator("#toast")).to_contain_text(f"Merged into {self.name_of[second]}")
        assert split not in _people(self.db)
        with page.expect_navigation():
            page.locator("#toast-undo").click()
        assert {f["id"] for f in cli_json(self.db, "faces", "--person", split)} == before

    def looks_like_points_to_the_split_group(self) -> None:
        """The second person's page points to the group split off them, and merges it in one
        click; Undo puts the group back."""
        page, expect = self.page, self.expect
        split, second = self.known["split"], self.known["second"]
        before = {f["id"] for f in cli_json(self.db, "faces", "--person", split)}
        page.goto(f"{self.base}/people/{second}")
        merge = page.locator(f'#alike .merge-alike[data-other="{split}"]')
        expect(merge).to_be_visible()
        with page.expect_navigation():
            merge.click()
        expect(page.locator("#toast")).to_contain_text("Merged into")
        assert split not in _people(self.db) or second not in _people(self.db)
        with page.expect_navigation():
            page.locator("#toast-undo").click()
        assert {f["id"] for f in cli_json(self.db, "faces", "--person", split)} == before
        page.goto(f"{self.base}/")

    def merge_the_split_group(self) -> None:
        split, second = self.known["split"], self.known["second"]
        self.split_faces = {f["id"] for f in cli_json(self.db, "faces", "--person", split)}
        self.page.locator(f"#person-{split} .pick-box").check()
        self.page.locator(f"#person-{second} .pick-box").check()
        with self.page.expect_navigation():
            self.page.locator("#merge").click()
        self.expect(self.page.locator("#toast")).to_contain_text(f"Merged 2 people into {self.name_of[second]}")
        assert split not in _people(self.db)
        assert self.split_faces <= {f["id"] for f in cli_json(self.db, "faces", "--person", second)}

    def review_with_the_keyboard(self) -> list[dict]:
        """Y, N, S; then undo twice (the S, then the N: asked again) and answer N again."""
        page, expect = self.page, self.expect
        page.goto(f"{self.base}/review")
        asked = []
        for key in ("y", "n", "s"):
            ask = page.locator("#question .ask")
            expect(ask).to_be_visible()
            asked.append({k: ask.get_attribute(f"data-{k}") for k in ("key", "kind", "person", "face")})
            if key == "y":
                _shoot(page, self.shots, "review")
            page.keyboard.press(key)
            expect(page.locator(f'#question [data-key="{asked[-1]["key"]}"]')).to_have_count(0)
        yes, no, skipped = asked
        assert yes["kind"] == no["kind"] == "face", asked
        faces = {f["id"]: f for f in cli_json(self.db, "faces")}
        assert faces[int(yes["face"])]["person"] == int(yes["person"])
        assert faces[int(yes["face"])]["assigned"] == "manual"
        assert faces[int(no["face"])]["person"] != int(no["person"])
        assert self._rejected(no)
        page.keyboard.press("u")
        expect(page.locator("#question .ask")).to_have_attribute("data-key", skipped["key"])
        page.keyboard.press("u")
        expect(page.locator("#question .ask")).to_have_attribute("data-key", no["key"])
        assert not self._rejected(no)
        page.keyboard.press("n")
        expect(page.locator("#question .ask")).to_have_attribute("data-key", skipped["key"])
        assert self._rejected(no)
        return asked

    def _rejected(self, question: dict) -> bool:
        with Catalog.open(self.db) as catalog:
            return bool(catalog.rejected([int(question["face"])], int(question["person"])))

    def reject_on_a_person_page(self) -> int:
        """Select the last (least typical) face of the largest person and press R."""
        largest = self.known["largest"]
        self.page.goto(f"{self.base}/people/{largest}?tab=faces")
        last = self.page.locator("#faces .tile").last
        rejected = int(last.get_attribute("data-face"))
        last.click()
        self.expect(last).to_have_class(re.compile("selected"))
        with self.page.expect_navigation():
            self.page.keyboard.press("r")
        self.expect(self.page.locator("#toast")).to_contain_text("1 face taken off")
        assert rejected not in {f["id"] for f in cli_json(self.db, "faces", "--person", largest)}
        assert _broken_images(self.page) == 0
        _shoot(self.page, self.shots, "person-faces")
        return rejected

    def photos_newest_first(self) -> None:
        """The person with the most dated photos: their page lists their photos newest first
        (undated last), and one opens in the page's viewer."""
        page, expect = self.page, self.expect
        with Catalog.open(self.db) as catalog:
            dated = collections.Counter(
                face["person"]
                for face in catalog.gallery_faces()
                if face["person"] is not None and catalog.photo(face["photo_id"])["taken_at"]
            )
            person = dated.most_common(1)[0][0]
            photos = {f["photo_id"] for f in catalog.gallery_faces(person=person)}
        page.goto(f"{self.base}/people/{person}")
        shots = page.locator("#photos .shot")
        expect(shots).to_have_count(len(photos))
        dates = [shot.get_attribute("data-date") for shot in shots.all()]
        known = [d for d in dates if d]
        assert len(known) >= 2 and known == sorted(known, reverse=True), dates
        assert dates == known + [""] * (len(dates) - len(known)), dates  # undated after every dated one
        assert _broken_images(page) == 0
        _shoot(page, self.shots, "person")
        shots.first.click()
        expect(page.locator("#viewer")).to_be_visible()
        expect(page.locator("#viewer-open")).to_have_attribute("href", shots.first.get_attribute("href"))
        page.keyboard.press("Escape")
        expect(page.locator("#viewer")).to_be_hidden()

    def birth_date_on_the_person_page(self) -> None:
        """On the page photos_newest_first left open: a date in the future is refused (nothing
        changed), one before every photo is set (the CLI sees it) and undone from the toast,
        then set again and removed with its button."""
        page, expect = self.page, self.expect
        person = int(page.locator(".born-set").get_attribute("data-person"))
        with Catalog.open(self.db) as catalog:
            oldest = min(catalog.photo(f["photo_id"])["taken_at"] or "9" for f in catalog.gallery_faces(person=person))
        box = page.locator(".born-box")
        box.fill("2999-01-01")
        page.locator(".born-set").click()
        expect(page.locator("#toast")).to_contain_text("in the future")
        assert _people(self.db)[person]["born"] is None
        born = f"{int(oldest[:4]) - 3}-05-17"  # before every photo of theirs: no face is taken
        for undo in (True, False):
            box.fill(born)
            with page.expect_navigation():
                box.press("Enter")
            expect(page.locator("#toast")).to_contain_text(f"Born {born}.")
            assert _people(self.db)[person]["born"] == born
            expect(box).to_have_value(born)
            if undo:
                with page.expect_navigation():
                    page.locator("#toast-undo").click()
                assert _people(self.db)[person]["born"] is None
        _shoot(page, self.shots, "person-born")
        with page.expect_navigation():
            page.locator(".born-clear").click()
        expect(page.locator("#toast")).to_contain_text("Birth date removed")
        assert _people(self.db)[person]["born"] is None and page.locator(".born-clear").count() == 0

    def photo_and_unassigned_pages(self, question: dict) -> None:
        with Catalog.open(self.db) as catalog:
            photo = catalog.gallery_faces(face=int(question["face"]))[0]["photo_id"]
        self.page.goto(f"{self.base}/photos/{photo}")
        boxes = self.page.locator(".photo .box")
        self.expect(boxes).not_to_have_count(0)
        self.expect(self.page.locator("#face-list .face-row")).to_have_count(boxes.count())  # the side list
        assert _broken_images(self.page) == 0
        _shoot(self.page, self.shots, "photo")
        width = self.page.locator("#photo").bounding_box()["width"]
        self.page.locator("#zoom-in").click()
        self.expect(self.page.locator("#zoom-level")).to_have_text("150%")
        assert self.page.locator("#photo").bounding_box()["width"] > 1.4 * width
        self.page.keyboard.press("0")
        self.expect(self.page.locator("#zoom-level")).to_have_text("100%")
        self.page.goto(f"{self.base}/unassigned")
        assert _broken_images(self.page) == 0
        # Nobody to reject these faces from: no reject button, and no hint of one.
        self.expect(self.page.locator("#reject")).to_have_count(0)
        assert "reject" not in self.page.locator("main").inner_text().lower()
        assert " R " not in f" {self.page.locator('.keys').inner_text()} "
        _shoot(self.page, self.shots, "unassigned")

    def hostile_name_is_text(self) -> None:
        third = self.known["third"]
        self.page.goto(f"{self.base}/?show=unnamed")
        box = self.page.locator(f"#person-{third} .name-box")
        box.fill(HOSTILE)
        box.press("Enter")
        self.expect(self.page.locator("#toast-text")).to_contain_text(HOSTILE)  # as text
        self.page.goto(f"{self.base}/?show=named")
        self.expect(self.page.locator(f"#person-{third} .name")).to_have_text(HOSTILE)
        self.page.goto(f"{self.base}/people/{third}")
        self.expect(self.page.locator("h1")).to_have_text(HOSTILE)
        self.expect(self.page.locator("#toast")).to_be_hidden()
        self.page.wait_for_timeout(300)  # time for an injected handler to fire, were there one

    def check_decisions_kept(self, answers: list[dict], rejected: int) -> None:
        yes, no, _ = answers
        people = _people(self.db, "--all")
        assert people[self.known["largest"]]["name"] == self.name_of[self.known["largest"]]
        assert people[self.known["third"]]["name"] == HOSTILE
        assert self.known["split"] not in people
        faces = {f["id"]: f for f in cli_json(self.db, "faces")}
        assert faces[int(yes["face"])]["person"] == int(yes["person"])
        assert faces[int(no["face"])]["person"] != int(no["person"])
        assert faces[rejected]["person"] != self.known["largest"]
        assert self.split_faces <= {f["id"] for f in cli_json(self.db, "faces", "--person", self.known["second"])}


def _people(db: Path, *args: str) -> dict[int, dict]:
    return {p["id"]: p for p in cli_json(db, "people", *args)}


# ---------------------------------------------------------------------------- hostile requests
@pytest.fixture(scope="module")
def server(library) -> Iterator[tuple[str, str, Path]]:
    db, _ = library
    with serving(db) as url:
        base, token = base_and_token(url)
        yield base, token, db


@pytest.fixture
def client(server) -> Iterator[tuple[httpx.Client, str]]:
    """A client that has used the token (holds the cookie), and the page's CSRF token."""
    base, token, _ = server
    with httpx.Client(base_url=base, timeout=30) as session:
        first = session.get(f"/?token={token}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        page = session.get("/")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        yield session, csrf


def test_no_token_no_page(server):
    base, token, _ = server
    for path in ("/", "/review", "/people/1", "/photos/1/image", "/static/app.js", "/?token=wrong" + token[:3]):
        response = httpx.get(base + path)
        assert response.status_code == 403, path
        assert "token" in response.text


def test_changes_need_the_csrf_token_and_json(client, server):
    session, csrf = client
    _, _, db = server
    before = cli_json(db, "people", "--all")
    assert session.post("/api/people/1/ignore", json={}).status_code == 403
    assert session.post("/api/people/1/ignore", json={}, headers={"X-CSRF-Token": "x" * len(csrf)}).status_code == 403
    form = session.post("/api/people/1/ignore", data={"a": "b"}, headers={"X-CSRF-Token": csrf})
    assert form.status_code == 415
    foreign = session.post(
        "/api/people/1/ignore", json={}, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
    )
    assert foreign.status_code == 403
    assert cli_json(db, "people", "--all") == before


def test_foreign_host_header_is_refused(client, server):
    session, _ = client
    base, _, _ = server
    port = base.rsplit(":", 1)[1]
    for host in (f"evil.test:{port}", f"localhost.evil.test:{port}", "127.0.0.1:1", "evil.test"):
        assert session.get("/", headers={"Host": host}).status_code == 403, host
    assert session.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200


def test_only_catalogued_photos_and_own_assets(client, server):
    session, _ = client
    _, _, db = server
    assert session.get("/photos/999999").status_code == 404
    assert session.get("/photos/999999/image").status_code == 404
    assert session.get("/people/999999").status_code == 404
    assert session.get("/faces/999999/large").status_code == 404
    assert session.get("/photos/1/image?side=100000").status_code == 400
    for path in (
        "/static/../../catalog.py",
        "/static/%2e%2e/%2e%2e/cli.py",
        "/static/..%2f..%2fcli.py",
        f"/thumbs/..%2f..%2f{db.name}",
        "/thumbs/1-../../etc/passwd",
        "/thumbs/1-0000000000.jpg",
        "/etc/passwd",
        f"/{db}",
    ):
        response = session.get(path)
        assert response.status_code in (400, 404), path
        assert b"SQLite" not in response.content and b"root:" not in response.content
    assert session.get("/static/app.js").status_code == 200
    favicon = session.get("/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/x-icon"
    assert session.get("/photos/1/image").headers["content-type"] == "image/jpeg"


def test_people_filters_and_sorting(client, server):
    """Named people one click away, in the order the user picks; every tab says how many it holds."""
    session, csrf = client
    _, _, db = server
    people = cli_json(db, "people")
    if sum(1 for p in people if p["name"]) < 2:  # when run on its own, without the browser test
        unnamed = [p["id"] for p in people if not p["name"]]
        cli(db, "name", unnamed[0], "Zoe Zed")
        cli(db, "name", unnamed[1], "Adam Ant")
    named = session.get("/?show=named&sort=name&format=json").json()
    names = [p["name"] for p in named["people"]]
    assert names and names == sorted(names, key=str.casefold) and None not in names
    tabs = {tab["key"]: tab["count"] for tab in named["tabs"]}
    assert tabs["named"] == len(names) and tabs["all"] == tabs["named"] + tabs["unnamed"]
    largest = session.get("/?sort=largest&format=json").json()["people"]
    assert [p["faces"] for p in largest] == sorted((p["faces"] for p in largest), reverse=True)
    assert session.get("/?sort=sideways").status_code == 400
    page = session.get("/?show=named").text
    assert re.search(r'href="/\?show=named[^"]*" aria-current="true"', page)  # the tab shows where one is
    nobody = session.get("/?q=no-such-name-at-all").text
    assert "photoface scan" not in nobody and "show everyone" in nobody
    gone = session.post("/api/undo", json={"undo": "not-a-key"}, headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 400 and "can no longer be undone" in gone.json()["error"]


def test_undo_puts_back_what_a_change_did(client, server):
    """Each change's undo key puts the catalog back as it was: a name, an ignore, faces given to a
    new name (the person that name made goes too); a key works once."""
    session, csrf = client
    _, _, db = server
    headers = {"X-CSRF-Token": csrf}
    before = (cli_json(db, "people", "--all"), cli_json(db, "faces"))
    unnamed = next(p for p in cli_json(db, "people") if not p["name"])
    loose = [f["id"] for f in cli_json(db, "faces") if f["person"] is None][:2]
    changes = [
        (f"/api/people/{unnamed['id']}/name", {"name": "Undo Me"}),
        (f"/api/people/{unnamed['id']}/ignore", {}),
        ("/api/faces/move", {"faces": loose, "to": "Brand New Person", "from": None}),
    ]
    for path, body in changes:
        done = session.post(path, json=body, headers=headers)
        assert done.status_code == 200, done.text
        assert (cli_json(db, "people", "--all"), cli_json(db, "faces")) != before
        undone = session.post("/api/undo", json={"undo": done.json()["undo"]}, headers=headers)
        assert undone.status_code == 200, undone.text
        assert (cli_json(db, "people", "--all"), cli_json(db, "faces")) == before, path
        again = session.post("/api/undo", json={"undo": done.json()["undo"]}, headers=headers)
        assert again.status_code == 400


def test_bad_input_gets_a_clear_message_and_changes_nothing(client, server):
    session, csrf = client
    _, _, db = server
    headers = {"X-CSRF-Token": csrf}
    people = cli_json(db, "people")
    if not any(p["name"] for p in people):  # when run on its own, without the browser test
        cli(db, "name", people[0]["id"], "Someone")
        people = cli_json(db, "people")
    named = next(p for p in people if p["name"])
    unnamed = next(p for p in people if not p["name"])
    before = (cli_json(db, "people", "--all"), cli_json(db, "faces"))

    def post(path: str, body: object) -> httpx.Response:
        return session.post(path, json=body, headers=headers)

    assert post("/api/people/999999/name", {"name": "Zed"}).status_code == 404
    assert "empty" in post(f"/api/people/{unnamed['id']}/name", {"name": "   "}).json()["error"]
    assert "at most" in post(f"/api/people/{unnamed['id']}/name", {"name": "x" * 1000}).json()["error"]
    taken = post(f"/api/people/{unnamed['id']}/name", {"name": named["name"].upper()})
    assert taken.status_code == 409 and taken.json()["owner"] == named["id"]
    assert post("/api/faces/reject", {"faces": ["1"], "person": 1}).status_code == 400
    assert post("/api/faces/reject", {"faces": [999999], "person": named["id"]}).status_code == 400
    assert post("/api/people/merge", {"people": [named["id"]]}).status_code == 400
    json_headers = headers | {"content-type": "application/json"}
    broken = session.post("/api/faces/move", content=b"{not json", headers=json_headers)
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]
    # a stale page: faces it showed with a person that a re-cluster gave to someone else
    theirs = cli_json(db, "faces", "--person", named["id"])[0]["id"]
    stale = post("/api/faces/move", {"faces": [theirs], "to": "Somebody New", "from": unnamed["id"]})
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    stale = post("/api/faces/reject", {"faces": [theirs], "person": unnamed["id"]})
    assert stale.status_code == 409
    stale = post("/api/review/answer", {"answer": "yes", "kind": "face", "face": theirs, "person": named["id"]})
    assert stale.status_code == 409
    assert (cli_json(db, "people", "--all"), cli_json(db, "faces")) == before
    # "Not this person" on a face the user confirmed as them: a contradiction, refused
    with Catalog.open(db, create=False) as catalog:
        kept = catalog.decision_state([theirs], [named["id"]])
        cli(db, "confirm", theirs, named["id"])
        said = cli_json(db, "faces")
        refused = post("/api/faces/reject", {"faces": [theirs], "person": named["id"]})
        assert refused.status_code == 400 and f"face {theirs} was confirmed as" in refused.json()["error"]
        assert cli_json(db, "faces") == said
        with catalog.transaction():
            catalog.restore_decisions(kept)  # as the other tests of this server expect it
    assert session.get("/").status_code == 200  # still serving


def test_serve_refuses_a_busy_port_and_warns_off_loopback(library, tmp_path):
    db, _ = library
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["--db", str(db), "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.output
    missing = runner.invoke(app, ["--db", str(tmp_path / "none.db"), "serve"])
    assert missing.exit_code == 1 and "no catalog" in missing.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "photoface", "--db", str(db), "serve", "--port", "0", "--host", "0.0.0.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        warning = process.stderr.readline()
    finally:
        process.terminate()
        process.wait(10)
    assert warning.startswith("warning: listening on 0.0.0.0")


def test_merge_questions_are_answered_and_undone(library, tmp_path):
    """ "Same person?" for the split-off group: yes merges, undo brings both people back as they
    were, no is remembered (never asked again)."""
    source, known = library
    db = tmp_path / "c.db"
    copy_catalog(source.with_name("pristine.db"), db)
    session = ReviewSession()
    with Catalog.open(db) as catalog:
        before = (catalog.people(include_hidden=True), catalog.faces())
        question = session.current(catalog)
        while question is not None and question.kind != "merge":
            question = session.answer(catalog, question, "skip")
        assert question is not None and {question.person, question.other} == {known["split"], known["second"]}
        session.answer(catalog, question, "yes")
        assert len(catalog.people()) == len(before[0]) - 1
        assert session.undo(catalog) == question
        assert (catalog.people(include_hidden=True), catalog.faces()) == before
        session.answer(catalog, question, "no")
        assert (catalog.people(include_hidden=True), catalog.faces()) == before
    fresh = ReviewSession()  # a new session (a restarted server) does not ask it again
    with Catalog.open(db) as catalog:
        keys = set()
        question = fresh.current(catalog)
        while question is not None:
            keys.add(question.key)
            question = fresh.answer(catalog, question, "skip")
    pair = {known["split"], known["second"]}
    assert question is None and not any({int(n) for n in key.split(":")[1:]} == pair for key in keys), keys


def test_a_full_disk_is_a_message_and_the_server_keeps_serving(library, tmp_path):
    """The catalog's disk fills up while the app runs: a change answers with what happened and
    what to do, nothing is half-written, and once space is freed the same change works."""
    source, _ = library
    with _small_filesystem(tmp_path / "small", "8m") as small:
        db = small / "c.db"
        copy_catalog(source.with_name("pristine.db"), db)
        with serving(db) as url:
            base, token = base_and_token(url)
            with httpx.Client(base_url=base, timeout=30) as session:
                session.get(f"/?token={token}")
                csrf = re.search(r'name="csrf-token" content="([^"]+)"', session.get("/").text).group(1)
                person = cli_json(db, "people")[0]["id"]

                def rename() -> httpx.Response:
                    body = {"name": "Full Disk"}
                    return session.post(f"/api/people/{person}/name", json=body, headers={"X-CSRF-Token": csrf})

                filler = small / "filler"
                with contextlib.suppress(OSError), filler.open("wb") as handle:
                    while True:
                        handle.write(b"x" * 65536)
                        handle.flush()
                full = rename()
                assert full.status_code == 503, full.text
                assert full.json()["error"].endswith(
                    "the disk is full: free some space, then run the same command again"
                )
                assert session.get("/").status_code == 200
                filler.unlink()
                again = rename()
                assert again.status_code == 200, again.text
        assert {p["id"]: p["name"] for p in cli_json(db, "people")}[person] == "Full Disk"


def test_pages_and_changes_work_while_a_scan_writes(library, lfw_images, tmp_path):
    """Another terminal scans into the catalog the app serves (WAL): every page and every change
    keeps working while the scan writes, and each page shows the catalog as it is at that request."""
    source, known = library
    db = tmp_path / "c.db"
    copy_catalog(source.with_name("pristine.db"), db)
    counts: list[int] = []
    with serving(db) as url:
        base, token = base_and_token(url)
        with httpx.Client(base_url=base, timeout=30) as session:
            session.get(f"/?token={token}")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', session.get("/").text).group(1)
            scan = start_photoface("--db", db, "scan", lfw_images)  # 13,000 photos: still running at the end
            try:
                deadline = time.monotonic() + 120
                while len(set(counts)) < 4 and time.monotonic() < deadline:
                    for path in ("/", "/review", f"/people/{known['largest']}"):
                        assert session.get(path).status_code == 200, path
                    named = session.post(
                        f"/api/people/{known['third']}/name",
                        json={"name": f"Live {len(counts)}"},
                        headers={"X-CSRF-Token": csrf},
                    )
                    assert named.status_code == 200, named.text
                    counts.append(session.get("/unassigned?format=json").json()["count"])
                assert scan.poll() is None, "the scan ended before the app saw it write"
            finally:
                scan.terminate()
                stopped = finish(scan, timeout=60)
    assert len(set(counts)) >= 4 and counts == sorted(counts), counts  # each request saw the scan's progress
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert _people(db, "--all")[known["third"]]["name"] == f"Live {len(counts) - 1}"
