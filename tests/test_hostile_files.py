"""A scan over every kind of broken and odd file a real library holds.

Every file ends indexed or failed with its reason; the scan exits 0 or 3; stderr holds only
photoface's own lines; the catalog passes integrity_check; a rescan analyses nothing again.
"""

from __future__ import annotations

import sqlite3
import threading
import warnings
from pathlib import Path

import pytest
from PIL import Image

from photoface.catalog import path_from_db
from photoface.cli import EXIT_PARTIAL
from photoface.imageio import load_image
from tests import hostile
from tests.conftest import data_path, run_photoface

PEAK_MB = 1500  # the bound on a scan's memory, whatever the files
OWN_STDERR_PREFIXES = ("failed: ", "warning: ")


def _rows(db: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT path, status, error FROM photos").fetchall()
    return {Path(path_from_db(path)).name: (status, error) for path, status, error in rows}


def _only_own_lines(stderr: str) -> None:
    strays = [line for line in stderr.splitlines() if line.strip() and not line.startswith(OWN_STDERR_PREFIXES)]
    assert not strays, strays


@pytest.fixture(scope="module")
def hostile_library(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("hostile") / "library"
    return folder, hostile.write_library(folder)


def test_every_file_ends_indexed_or_failed_with_reason(hostile_library, tmp_path):
    library, kinds = hostile_library
    db = tmp_path / "c.db"
    first = run_photoface("--db", db, "scan", "--json", library)
    assert first.returncode == EXIT_PARTIAL, first.stderr
    _only_own_lines(first.stderr)
    assert first.peak_mb < PEAK_MB

    rows = _rows(db)
    assert set(rows) == set(kinds), "every file, and nothing that is not a file, is catalogued"
    for name in hostile.SKIPPED_NON_FILES:
        assert name not in rows
    for name, (status, error) in rows.items():
        assert status in ("ok", "failed", "duplicate"), name
        assert (status == "failed") == bool(error), name
    report = first.json()
    assert report["failed"] == sum(status == "failed" for status, _ in rows.values())
    assert {Path(f["path"]).name for f in report["failures"]} == {n for n, (s, _) in rows.items() if s == "failed"}

    # What must decode: every format whole and at 1x1, and every odd-but-valid image.
    for fmt, suffix in hostile.FORMATS.items():
        assert rows[f"{fmt}-good.{suffix}"][0] == "ok"
        assert rows[f"{fmt}-1x1.{suffix}"][0] == "ok"
        assert rows[f"{fmt}-zeros.{suffix}"][0] == "failed"
        assert rows[f"{fmt}-cut10.{suffix}"][0] == "failed"
    bombs = {"bmp-3000000x2000000.bmp", "gif-65535x66601.gif"}
    for name, kind in kinds.items():
        if kind == "odd" and name not in bombs:
            assert rows[name][0] == "ok", (name, rows[name])
    for name in bombs:
        assert "decompression bomb" in rows[name][1]
    assert rows["document.jpg"][1] == "a PDF document, not an image: wrong extension"
    assert rows["notes.jpg"][1] == "a text file, not an image: wrong extension"
    assert rows["JPEG-cut50.jpg"][1].startswith("cannot decode image (image file is truncated")

    again = run_photoface("--db", db, "scan", "--json", library)
    assert again.returncode == EXIT_PARTIAL, again.stderr  # the failed files are still failed
    assert again.json()["still_failed"] == sum(status == "failed" for status, _error in rows.values())
    assert (again.json()["new"], again.json()["changed"], again.json()["failed"]) == (0, 0, 0)
    assert again.json()["unchanged"] == len(kinds)
    assert again.stderr == ""


def test_decoder_chatter_becomes_the_reason_and_debug_log_lines(tmp_path):
    """libtiff writes to file descriptor 2 itself: none of it reaches the terminal; what it said
    about a file becomes part of that file's reason, and a log line with --debug."""
    folder = tmp_path / "library"
    folder.mkdir()
    name = "TIFF-tiff_lzw-data-flips.tif"
    (folder / name).write_bytes(hostile.damaged_copies(folder)[name])
    quiet = run_photoface("--db", tmp_path / "c.db", "scan", folder)
    assert quiet.returncode == EXIT_PARTIAL
    reason = _rows(tmp_path / "c.db")[name][1]
    assert reason.startswith("cannot decode image (") and "; the decoder warned: TIFF" in reason
    assert quiet.stderr.splitlines() == [f"failed: {folder / name}: {reason}"]
    loud = run_photoface("--debug", "--db", tmp_path / "d.db", "scan", folder)
    native = [line for line in loud.stderr.splitlines() if line.startswith("photoface.decoders: native library")]
    assert native == [f"photoface.decoders: native library ({folder / name}): {reason.split('warned: ')[1]}"]


def test_decoding_never_goes_through_the_warnings_filters(tmp_path):
    """Pillow warns above 89.5 megapixels; photoface decodes such photos without a warning, so
    no thread's warnings setting can turn another thread's big photo into a crash."""
    path = tmp_path / "panorama.jpg"
    Image.new("RGB", (12000, 8000), (120, 110, 100)).save(path, quality=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_image(path, max_side=1280)
    assert loaded.full_size == (12000, 8000) and max(loaded.image.size) <= 1280


def _panorama_with_faces(groups: Path, path: Path, fmt: str, size: tuple[int, int]) -> None:
    """A big photo with a real group photo in it, faces scaled up the way the panorama is."""
    canvas = Image.new("RGB", size, (96, 120, 140))
    with Image.open(groups / "2008_001322.jpg") as group:
        scale = size[1] // (2 * group.height)
        canvas.paste(group.resize((group.width * scale, group.height * scale)), (size[0] // 3, size[1] // 4))
    canvas.save(path, fmt, **({"quality": 85} if fmt == "JPEG" else {"compress_level": 1}))


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory) -> Path:
    groups = data_path("groups")
    folder = tmp_path_factory.mktemp("big") / "library"
    folder.mkdir()
    _panorama_with_faces(groups, folder / "panorama-96mp.jpg", "JPEG", (12000, 8000))
    _panorama_with_faces(groups, folder / "scan-108mp.png", "PNG", (12000, 9000))
    for photo in sorted((groups).glob("200*.jpg")):
        (folder / photo.name).symlink_to(photo)
    return folder


@pytest.mark.parametrize("attempt", range(3))
def test_big_photos_beside_small_ones_are_scanned(big_photos, tmp_path, attempt):
    """The race of the warnings filters, run several times: two decoding threads, a 96 MP
    JPEG and a 108 MP PNG (between Pillow's limit and photoface's) among small photos."""
    db = tmp_path / "c.db"
    result = run_photoface("--db", db, "scan", "--json", "--jobs", "2", big_photos)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.peak_mb < PEAK_MB, f"attempt {attempt}: peak {result.peak_mb:.0f} MB"
    with sqlite3.connect(db) as conn:
        faces = dict(
            conn.execute("""SELECT photos.path, count(faces.id) FROM photos
                            LEFT JOIN faces ON faces.photo_id = photos.id GROUP BY photos.id""").fetchall()
        )
    assert faces[str(big_photos / "panorama-96mp.jpg")] >= 3
    assert faces[str(big_photos / "scan-108mp.png")] >= 3
    assert result.json()["failed"] == 0


def test_decoding_big_photos_in_many_threads_stays_bounded(big_photos):
    """Four threads decoding the two big photos at once: the decode memory budget lets them
    through one or two at a time, and each comes out reduced."""
    results, errors = [], []

    def decode(name: str) -> None:
        try:
            results.append(load_image(big_photos / name, max_side=1280))
        except Exception as exc:  # the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=decode, args=(name,)) for name in ["scan-108mp.png", "panorama-96mp.jpg"] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.full_size for r in results) == [(12000, 8000)] * 2 + [(12000, 9000)] * 2
    assert all(max(r.image.size) == 1280 for r in results)
