"""Scanning real photos into a real catalog: incremental, moves, bad files, kills, two scans."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface import scan as scan_module
from photoface.catalog import Catalog
from photoface.cli import EXIT_ERROR, EXIT_PARTIAL, app
from photoface.crawler import FileEntry
from photoface.scan import FileChangingError, ScanOptions, read_file, scan
from tests.conftest import data_path
from tests.test_imageio import _png_header_only

runner = CliRunner()


def _face_ids_by_photo(catalog: Catalog) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for face in catalog.faces():
        ids.setdefault(os.path.basename(face["photo"]), []).append(face["id"])
    return ids


def test_fivecelebs_incremental_life_cycle(engine, fivecelebs, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(fivecelebs, library)
    with Catalog.open(tmp_path / "c.db") as catalog:
        first = scan(catalog, [library], engine)
        assert (first.new, first.failed) == (118, 0)
        assert first.faces >= 118
        ids_before = {path: face_ids for path, face_ids in _face_ids_by_photo(catalog).items()}

        again = scan(catalog, [library], engine)
        assert again.counts() == {**again.counts(), "new": 0, "changed": 0, "unchanged": 118, "faces": 0}

        # A user decision to keep: one face named by hand.
        elton = library / "train" / "Elton John"
        with catalog.transaction():
            person = catalog.db["people"].insert({"name": "Elton John", "created_at": "now"}).last_pk
            named = catalog.faces(photo=str(sorted(elton.glob("*.jpg"))[0]))[0]["id"]
            catalog.db["faces"].update(named, {"person_id": person, "assigned": "manual"})

        edited = library / "val" / "Madonna" / "1.jpg"
        with Image.open(edited) as image:
            image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(edited, quality=90)
        changed = scan(catalog, [library], engine)
        assert (changed.changed, changed.unchanged, changed.new) == (1, 117, 0)

        (library / "train").rename(library / "training photos")
        moved = scan(catalog, [library], engine)
        assert (moved.moved, moved.removed, moved.new) == (93, 0, 0)
        assert catalog.db["faces"].get(named)["person_id"] == person
        after = _face_ids_by_photo(catalog)
        unchanged_names = {name for name in ids_before if name != "1.jpg"}
        assert all(after[name] == ids_before[name] for name in unchanged_names if name in after)
        assert catalog.stats()["photos"] == 118

        shutil.copy(library / "val" / "Madonna" / "2.jpg", library / "val" / "Madonna" / "2 copy.jpg")
        (library / "val" / "Madonna" / "3.jpg").unlink()
        last = scan(catalog, [library], engine)
        assert (last.duplicates, last.removed, last.new) == (1, 1, 0)
        assert catalog.stats()["photos"] == 117 and catalog.stats()["duplicates"] == 1
        assert catalog.db["people"].get(person)["name"] == "Elton John"

        # The original of the copy is deleted: the copy takes its place, faces and ids included.
        original = catalog.faces(photo=str(library / "val" / "Madonna" / "2.jpg"))
        (library / "val" / "Madonna" / "2.jpg").unlink()
        promoted = scan(catalog, [library], engine)
        assert (promoted.removed, promoted.moved, promoted.new) == (0, 1, 0)
        assert catalog.faces(photo=str(library / "val" / "Madonna" / "2 copy.jpg")) == [
            {**face, "photo": str(library / "val" / "Madonna" / "2 copy.jpg")} for face in original
        ]
        assert catalog.stats()["photos"] == 117 and catalog.stats()["duplicates"] == 0


def _salted_folder(root: Path, good: Path) -> dict[str, str]:
    """Good photos under awkward names plus every kind of bad file; name -> expected reason."""
    root.mkdir()
    shutil.copy(good, root / "plain.jpg")
    shutil.copy(good, root / "Zoë 😀 photo.jpg")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.jpg"), "wb") as handle:  # not UTF-8
        handle.write(good.read_bytes())
    (root / "empty.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(good.read_bytes()[:500])
    (root / "notes.jpg").write_text("a text file with a photo's name\n")
    _png_header_only(root / "bomb.png", 30000, 30000)
    (root / "loop").symlink_to(root)
    return {
        "empty.jpg": "empty file",
        "truncated.jpg": "cannot decode",
        "notes.jpg": "not an image",
        "bomb.png": "decompression bomb",
    }


def test_salted_folder_scans_to_completion_with_reasons(groups, tmp_path):
    # Three copies of one photo: the first is analysed, the others are recorded as duplicates.
    expected = _salted_folder(tmp_path / "salted", groups / "2008_001322.jpg")
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", "--json", str(tmp_path / "salted")])
    assert result.exit_code == EXIT_PARTIAL, result.output
    report = json.loads(result.stdout)
    reasons = {os.path.basename(f["path"]): f["error"] for f in report["failures"]}
    assert set(reasons) == set(expected)
    for name, reason in expected.items():
        assert reason in reasons[name]
    assert (report["new"], report["duplicates"], report["faces"]) == (1, 2, 3)
    status = json.loads(runner.invoke(app, ["--db", str(tmp_path / "c.db"), "status", "--json", "--failed"]).stdout)
    assert status["failed"] == 4 and len(status["failures"]) == 4
    assert status["photos"] == 1 and status["duplicates"] == 2 and status["faces"] == 3
    paths = {f["path"] for f in status["failures"]}
    assert all(os.path.dirname(p) == str(tmp_path / "salted") for p in paths)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_listed(groups, tmp_path):
    (tmp_path / "lib").mkdir()
    secret = tmp_path / "lib" / "secret.jpg"
    shutil.copy(groups / "2008_001322.jpg", secret)
    secret.chmod(0)
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", "--json", str(tmp_path / "lib")])
    assert result.exit_code == EXIT_PARTIAL
    assert "permission denied" in json.loads(result.stdout)["failures"][0]["error"]


def _linked_library(tmp_path: Path, count: int) -> Path:
    """``count`` LFW photos as symbolic links (the data is referenced, never copied)."""
    library = tmp_path / "lfw-links"
    library.mkdir()
    for photo in sorted(data_path("lfw", "images").glob("*/*.jpg"))[:count]:
        (library / photo.name).symlink_to(photo)
    return library


def _start_scan(db: Path, library: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "photoface", "--db", str(db), "scan", str(library)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_photos(db: Path, at_least: int, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    count = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= at_least:
                return count
        time.sleep(0.2)
    raise AssertionError(f"the scan stored fewer than {at_least} photos in {timeout} s")


def assert_each_photo_once(db: Path, photos: int) -> None:
    """An intact catalog holding ``photos`` photos, each once, and no face stored twice."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*), count(DISTINCT path) FROM photos").fetchone() == (photos, photos)
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT photo_id, x, y FROM faces GROUP BY photo_id, x, y HAVING count(*) > 1)"
        ).fetchone()[0]
        assert twice == 0


def test_kill_9_mid_scan_loses_nothing_committed(tmp_path):
    library = _linked_library(tmp_path, 300)
    db = tmp_path / "c.db"
    process = _start_scan(db, library)
    stored = _wait_for_photos(db, 64, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert stored <= conn.execute("SELECT count(*) FROM photos").fetchone()[0] < 300
    result = runner.invoke(app, ["--db", str(db), "scan", "--json", str(library)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unchanged"] >= stored and report["new"] + report["unchanged"] == 300
    assert_each_photo_once(db, 300)
    with sqlite3.connect(db) as conn:
        assert (
            conn.execute("SELECT count(*) FROM photos WHERE id NOT IN (SELECT photo_id FROM faces)").fetchone()[0] < 5
        )


def test_second_scan_at_once_is_refused_clearly(tmp_path):
    library = _linked_library(tmp_path, 200)
    db = tmp_path / "c.db"
    process = _start_scan(db, library)
    try:
        _wait_for_photos(db, 1, process)
        result = runner.invoke(app, ["--db", str(db), "scan", str(library)])
        assert result.exit_code == EXIT_ERROR
        assert f"another scan (pid {process.pid}) is running on {db}" in result.stderr
        assert "Traceback" not in result.output
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT status FROM scans ORDER BY id DESC").fetchone()[0] == "interrupted"
    assert process.returncode == 130


def test_missing_folder_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", str(tmp_path / "nope")])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'} does not exist: check the path"


def test_single_photo_and_unmounted_folder(engine, groups, tmp_path):
    (tmp_path / "drive").mkdir()
    photo = tmp_path / "drive" / "a.jpg"
    shutil.copy(groups / "2008_001322.jpg", photo)
    with Catalog.open(tmp_path / "c.db") as catalog:
        assert scan(catalog, [photo], engine).new == 1
        again = scan(catalog, [photo], engine)
        assert (again.unchanged, again.duplicates, again.new) == (1, 0, 0)
        photo.unlink()  # the drive is "unmounted": its folder is empty
        empty = scan(catalog, [tmp_path / "drive"], engine)
        assert empty.removed == 0 and "has no photos now; its 1 catalogued photos are kept" in empty.warnings[0]
        assert catalog.stats()["faces"] == 3


def test_scan_options_are_plain_python(engine, groups, tmp_path):
    (tmp_path / "one").mkdir()
    shutil.copy(groups / "2008_001322.jpg", tmp_path / "one" / "a.jpg")
    with Catalog.open(tmp_path / "c.db") as catalog:
        scan(catalog, [tmp_path / "one"], engine)
        forced = scan(catalog, [tmp_path / "one"], engine, ScanOptions(rescan=True))
        assert (forced.changed, forced.unchanged, forced.faces) == (1, 0, 3)


def _walk_then(action):
    """The crawler's walk, then ``action`` between the walk and the reads (a user at work)."""
    real_walk = scan_module.walk

    def walk(*args, **kwargs):
        items = list(real_walk(*args, **kwargs))
        action()
        yield from items

    return walk


def test_files_changing_between_walk_and_read(engine, groups, tmp_path, monkeypatch):
    library = tmp_path / "library"
    library.mkdir()
    photos = sorted(groups.glob("200*.jpg"))[:4]
    for photo in photos:
        shutil.copy(photo, library / photo.name)
    kept, deleted, truncated, copying = (library / p.name for p in photos)
    with Catalog.open(tmp_path / "c.db") as catalog:
        assert scan(catalog, [library], engine).new == 4
        new_one = library / "new.jpg"
        shutil.copy(photos[0], new_one)
        os.utime(new_one, (time.time() - 3600,) * 2)
        faces_before = {photo: len(catalog.faces(photo=str(photo))) for photo in (kept, copying)}

        def meanwhile():
            deleted.unlink()  # catalogued, deleted after the walk saw it: removed, not failed
            new_one.unlink()  # new, deleted after the walk: simply not there
            truncated.write_bytes(truncated.read_bytes()[:200])  # cut short: failed as it is now
            os.utime(truncated, (time.time() - 3600,) * 2)
            with open(copying, "ab") as handle:  # a copy still growing: left for the next scan
                handle.write(b"\0" * 1000)

        monkeypatch.setattr(scan_module, "walk", _walk_then(meanwhile))
        summary = scan(catalog, [library], engine, ScanOptions(rescan=True))
        assert summary.removed == 1 and not catalog.has_photo(str(deleted)) and not catalog.has_photo(str(new_one))
        assert [path for path, _ in summary.failures] == [str(truncated)]
        assert "truncated" in summary.failures[0][1].lower()
        assert summary.warnings == [
            f"{copying}: still being written (it changed while scanned): left for the next scan"
        ]
        assert {photo: len(catalog.faces(photo=str(photo))) for photo in (kept, copying)} == faces_before

        monkeypatch.undo()
        os.utime(copying, (time.time() - 3600,) * 2)  # the copy finished a while ago
        later = scan(catalog, [library], engine)
        assert (later.changed, later.warnings) == (1, [])


def test_read_file_takes_a_file_as_it_is_now(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 1000)
    os.utime(path, (time.time() - 3600,) * 2)
    walked = FileEntry(str(path), 5000, 1)  # what the walk saw before the file was replaced
    entry, data, digest = read_file(walked)
    assert (entry.size, data) == (1000, b"x" * 1000) and len(digest) == 32
    with open(path, "ab") as handle:  # written to just now, and different from the walk
        handle.write(b"y")
    with pytest.raises(FileChangingError):
        read_file(walked)
