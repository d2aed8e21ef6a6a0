"""Live Photos: the clip beside a photo (IMG_0001.JPG + IMG_0001.MOV) is part of that photo, its faces
never counted twice; made in each test from a shared photo and the clip of the same person."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photoface.cli import app
from photoface.crawler import live_photo_clips
from tests.conftest import data_path

runner = CliRunner()


def _json(db, *args):
    result = runner.invoke(app, ["--db", str(db), *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    """A Live Photo made of the reference photo and the clip of the same woman."""
    video = data_path("video")
    folder = tmp_path / "camera"
    folder.mkdir()
    still, clip = folder / "IMG_0001.JPG", folder / "IMG_0001.MOV"
    shutil.copy(video / "reference" / "sv_61dc1ab7.jpg", still)
    shutil.copy(video / "sv_61dc1ab7_phone_talking.mov", clip)
    return still, clip


def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT path, kind, live_clip FROM photos ORDER BY path").fetchall()


@pytest.mark.data
def test_a_live_photo_gives_its_faces_once_and_keeps_its_clip(pair, tmp_path):
    still, clip = pair
    db = tmp_path / "catalog.db"
    scanned = _json(db, "scan", still.parent, "--jobs", "1")
    assert (scanned["new"], scanned["faces"], scanned["live_clips"]) == (1, 1, 1)
    assert _rows(db) == [(str(still), "photo", str(clip))]
    assert [face["photo"] for face in _json(db, "faces")] == [str(still)]
    status = _json(db, "status")
    assert (status["photos"], status["videos"], status["live_clips"]) == (1, 0, 1)


@pytest.mark.data
def test_a_clip_scanned_as_a_video_joins_its_photo_when_the_photo_comes(pair, tmp_path):
    still, clip = pair
    later = tmp_path / "later.jpg"
    still.rename(later)
    db = tmp_path / "catalog.db"
    alone = _json(db, "scan", clip.parent, "--jobs", "1")
    assert (alone["new"], alone["live_clips"]) == (1, 0) and alone["faces"] >= 1
    assert _rows(db) == [(str(clip), "video", None)]
    later.rename(still)
    joined = _json(db, "scan", clip.parent, "--jobs", "1")
    assert (joined["new"], joined["removed"], joined["live_clips"]) == (1, 1, 1)
    assert _rows(db) == [(str(still), "photo", str(clip))]
    assert [face["photo"] for face in _json(db, "faces")] == [str(still)]


@pytest.mark.data
def test_a_clip_taken_away_leaves_the_photo_as_it_was(pair, tmp_path):
    still, clip = pair
    db = tmp_path / "catalog.db"
    _json(db, "scan", still.parent, "--jobs", "1")
    faces = _json(db, "faces")
    clip.unlink()
    again = _json(db, "scan", still.parent, "--jobs", "1")
    assert (again["unchanged"], again["new"], again["removed"], again["live_clips"]) == (1, 0, 0, 0)
    assert _rows(db) == [(str(still), "photo", None)]
    assert _json(db, "faces") == faces


def test_only_a_mov_beside_a_still_of_the_same_name_is_a_clip():
    names = ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0002.jpeg", "IMG_0002.mov", "IMG_0003.mov", "IMG_0004.png"]
    names += ["IMG_0004.MOV", "clip.mp4", "clip.jpg"]
    assert live_photo_clips(names) == {"IMG_0001.HEIC": "IMG_0001.MOV", "IMG_0002.jpeg": "IMG_0002.mov"}


@pytest.mark.data
def test_a_live_photo_named_alone_keeps_its_clip(pair, tmp_path):
    still, clip = pair
    db = tmp_path / "catalog.db"
    _json(db, "scan", still.parent, "--jobs", "1")
    again = _json(db, "scan", still, "--jobs", "1")
    assert (again["unchanged"], again["live_clips"]) == (1, 1)
    assert _rows(db) == [(str(still), "photo", str(clip))]
