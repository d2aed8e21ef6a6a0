"""Videos and Live Photos in ``serve`` (issue 25): the shared clips scanned for real, their page in
Chromium (the player loads, a track seeks it), the streaming route with Range requests, and
requests for files the catalog does not hold refused."""

from __future__ import annotations

import json
import shutil
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image

from photoface.catalog import Catalog
from tests.conftest import base_and_token, data_path, serving
from tests.test_serve import _broken_images, _browser, _images_loaded, cli, cli_json, copy_catalog

SHOTS = Path("/tmp/shots")
TALKING = "sv_61dc1ab7_phone_talking.mov"  # portrait phone clip, one woman
ROTATED = "sv_61dc1bc5_phone_rotated.mp4"  # stored landscape, shown portrait by its display matrix


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict:
    """The shared video folder scanned as it is, plus a Live Photo made from a clip and a selfie
    of the person in it (the still and a ``.mov`` of the same name)."""
    folder = data_path("video")
    clips = {clip["file"]: clip for clip in json.loads((folder / "clips.json").read_text())}
    work = tmp_path_factory.mktemp("video")
    live = work / "live"
    live.mkdir()
    shutil.copyfile(data_path("people", "sv_61dc1ab7", "sv_61dc1ab7_01.jpg"), live / "IMG_0001.jpg")
    shutil.copyfile(folder / TALKING, live / "IMG_0001.mov")
    db = work / "pristine.db"
    cli(db, "scan", folder, live)
    with Catalog.open(db) as catalog:
        rows = {Path(row["path"]).name: row for row in catalog.db.query("SELECT * FROM photos WHERE status = 'ok'")}
    return {"db": db, "clips": clips, "rows": rows, "folder": folder, "live": live}


@pytest.fixture
def db(videos, tmp_path) -> Path:
    copy = tmp_path / "c.db"
    copy_catalog(videos["db"], copy)
    return copy


def _tracks(db: Path, name: str) -> list[dict]:
    return [face for face in cli_json(db, "faces") if Path(face["photo"]).name == name]


def _wait(page, script: str, seconds: float = 20):
    """Poll ``script`` until it is true (wait_for_function evaluates a string, which the CSP forbids)."""
    for _ in range(int(seconds * 20)):
        if page.evaluate(script):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"still not true after {seconds} s: {script}")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    _images_loaded(page)
    page.screenshot(path=str(SHOTS / f"video-{name}.png"))


def test_video_page_plays_from_a_track(videos, db):
    """The video's page: a <video> that loads (its duration the clip's), the tracks listed with
    their times over the best-frame poster; clicking a track plays from its start."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    row = videos["rows"][TALKING]
    assert row["kind"] == "video"
    (track,) = _tracks(db, TALKING)
    errors: list[str] = []
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        base, _ = base_and_token(url)
        browser = _browser(driver)
        for size, name in (({"width": 1280, "height": 800}, "desktop"), ({"width": 390, "height": 844}, "phone")):
            page = browser.new_page(viewport=size)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.goto(f"{base}/photos/{row['id']}")
            player = page.locator("video#player")
            expect(player).to_have_attribute("poster", f"/photos/{row['id']}/image")
            _wait(page, "document.getElementById('player').readyState >= 1")
            duration = page.evaluate("document.getElementById('player').duration")
            assert abs(duration - videos["clips"][TALKING]["duration_s"]) < 0.2
            assert page.locator("#draw-face").count() == 0  # boxes are drawn on photos, not on a frame
            listed = page.locator(f'.face-row[data-face="{track["id"]}"] .times')
            expect(listed).to_contain_text(f"0:0{int(track['start'])}")
            expect(page.locator(f"#box-{track['id']}")).to_be_visible()  # on the poster frame
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            _shot(page, f"{name}-page")
            page.evaluate("document.getElementById('player').currentTime = 3")
            page.locator(f'.show-face[data-face="{track["id"]}"]').click()
            _wait(page, "!document.getElementById('player').paused")
            now = page.evaluate("document.getElementById('player').currentTime")
            assert track["start"] <= now < track["start"] + 1.0, now
            expect(page.locator(f"#box-{track['id']}")).to_be_hidden()  # of one frame: gone while it plays
            _shot(page, f"{name}-playing")
            page.close()
        browser.close()
    assert errors == []


def test_video_route_streams_ranges_and_refuses_the_rest(videos, db):
    """206 with the asked bytes for a Range, the whole file without one; only catalogued videos and
    Live Photo clips, by id: a still, an unknown id, a path in the request, no token: refused."""
    talking, still = videos["rows"][TALKING], videos["rows"]["IMG_0001.jpg"]
    plain = videos["rows"]["sv_61dc1bc5.jpg"]  # a reference photo: a still without a clip
    assert plain["live_clip"] is None
    data = (videos["folder"] / TALKING).read_bytes()
    with serving(db) as url:
        base, token = base_and_token(url)
        with httpx.Client(base_url=base) as session:
            session.get(f"/?token={token}")
            whole = session.get(f"/photos/{talking['id']}/video")
            assert whole.status_code == 200 and whole.content == data
            assert whole.headers["accept-ranges"] == "bytes"
            part = session.get(f"/photos/{talking['id']}/video", headers={"range": "bytes=1000-1999"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
            assert part.content == data[1000:2000]
            tail = session.get(f"/photos/{talking['id']}/video", headers={"range": "bytes=-500"})
            assert tail.status_code == 206 and tail.content == data[-500:]
            beyond = session.get(f"/photos/{talking['id']}/video", headers={"range": f"bytes={len(data) + 10}-"})
            assert beyond.status_code == 416
            clip = session.get(f"/photos/{still['id']}/video", headers={"range": "bytes=0-99"})
            assert clip.status_code == 206 and clip.content == data[:100]  # the Live Photo's .mov: the same clip
            refused = [
                f"/photos/{still['id'] + talking['id'] + 1000}/video",
                "/photos/..%2f..%2fetc%2fpasswd/video",
                "/photos/%2Fetc%2Fpasswd/video",
                f"/photos/{plain['id']}/video",
            ]
            for path in refused:
                answer = session.get(path)
                assert answer.status_code == 404, path
                assert b"root:" not in answer.content
            asked = session.get(f"/photos/{talking['id']}/video?path=/etc/passwd")
            assert asked.content == data  # the query names no file: the catalog's row does
        assert httpx.get(f"{base}/photos/{talking['id']}/video").status_code == 403  # no token, no video


def test_video_faces_have_a_badge_and_a_frame(videos, db):
    """Unassigned and review show a video's track like any face (its best frame), marked
    "video 0:0s"; the poster of a video is a frame of it, upright."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    rotated = videos["rows"][ROTATED]
    (track,) = _tracks(db, ROTATED)
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        base, token = base_and_token(url)
        with httpx.Client(base_url=base) as session:
            session.get(f"/?token={token}")
            poster = session.get(f"/photos/{rotated['id']}/image?side=640")
            assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
            width, height = Image.open(BytesIO(poster.content)).size
            assert height > width  # the display matrix applied: shown portrait
            assert session.get(f"/photos/{rotated['id']}/image?face=999999").status_code == 404
            assert session.get(f"/faces/{track['id']}/large").status_code == 200
        browser = _browser(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.goto(f"{base}/unassigned")
        tile = page.locator(f'.tile[data-face="{track["id"]}"]')
        expect(tile.locator(".badge")).to_have_text(f"video 0:0{int(track['start'])}")
        expect(tile.locator("figcaption a")).to_have_text("video")
        _wait(page, f"document.querySelector('.tile[data-face=\"{track['id']}\"] img').naturalWidth > 0")
        assert _broken_images(page) == 0
        _shot(page, "unassigned")
        browser.close()


def test_review_asks_about_a_video_face_on_its_frame(videos, db):
    """A track left out of a named person is asked about like a photo's face: its face large, the
    frame it is from (``?face=``) with its box, and the badge."""
    cli(db, "cluster")
    (track,) = _tracks(db, TALKING)
    assert track["person"] is not None  # with the selfies of the same woman
    cli(db, "name", track["person"], "Ann")
    with Catalog.open(db) as catalog:
        catalog.unassign_faces([track["id"]])
    with serving(db) as url:
        base, token = base_and_token(url)
        with httpx.Client(base_url=base, timeout=60) as session:
            session.get(f"/?token={token}")
            question = session.get("/review?format=json").json()["question"]
            assert question["face"] == track["id"] and question["kind"] == "face"
            page = session.get("/review").text
            assert "video 0:00" in page
            frame = f"/photos/{videos['rows'][TALKING]['id']}/image?side=640&face={track['id']}"
            assert frame in page
            for path in (frame, f"/faces/{track['id']}/large"):
                answer = session.get(path)
                assert answer.status_code == 200 and Image.open(BytesIO(answer.content)).size[0] > 0


def test_live_photo_plays_its_clip(videos, db):
    """A Live Photo is one photo with its clip: the Live button plays it muted over the still."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    expect = playwright_api.expect
    still = videos["rows"]["IMG_0001.jpg"]
    assert still["kind"] == "photo" and still["live_clip"] is not None
    assert "IMG_0001.mov" not in videos["rows"]  # part of its photo, not a video of its own
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        base, _ = base_and_token(url)
        browser = _browser(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.goto(f"{base}/photos/{still['id']}")
        clip = page.locator("#live-clip")
        expect(clip).to_be_hidden()
        page.get_by_role("button", name="Live").click()
        expect(clip).to_be_visible()
        _wait(page, "(c => !c.paused && c.readyState >= 2)(document.getElementById('live-clip'))")
        assert page.evaluate("document.getElementById('live-clip').muted")
        expect(page.get_by_role("button", name="Live")).to_have_attribute("aria-pressed", "true")
        _shot(page, "live")
        page.get_by_role("button", name="Live").click()
        expect(clip).to_be_hidden()
        browser.close()
