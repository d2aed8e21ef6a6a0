"""Videos in the library, end to end through the real CLI on the shared clips (data/video): each face
track is a face of its video, named people are found in clips with the times they are seen, a
rescan changes nothing, and worker processes find the same tracks."""

import json
import shutil
import signal
import sqlite3
import time

import numpy as np
import pytest
import sqlite_utils
from typer.testing import CliRunner

from photoface.catalog import Catalog, migrations
from photoface.cli import app
from tests.conftest import data_path, run_photoface, start_photoface

runner = CliRunner()
STOP_S = 10  # seconds Ctrl-C may take to end a scan in the middle of a video (measured: 0.4-0.5 s)
TOLERANCE_S = 1.0  # the clips show their person throughout: tracks start and end within this of the clip's ends


def _run(db, *args, code: int = 0):
    result = runner.invoke(app, ["--db", str(db), *map(str, args)])
    assert result.exit_code == code, result.output
    return result


def _json(db, *args):
    return json.loads(_run(db, *args, "--json").stdout)


@pytest.fixture(scope="module")
def clips() -> dict[str, dict]:
    """clips.json by file name: duration, stored size, rotation, who is in each clip."""
    listing = json.loads((data_path("video") / "clips.json").read_text())
    return {clip["file"]: clip for clip in listing}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict:
    """The shared clips and their reference photos scanned in this process (--jobs 1)."""
    folder = data_path("video")
    db = tmp_path_factory.mktemp("video") / "catalog.db"
    first = _json(db, "scan", folder, "--jobs", "1")
    return {"db": db, "folder": folder, "first": first, "faces": _json(db, "faces")}


def _video_faces(faces: list[dict]) -> dict[str, list[dict]]:
    """Each clip's faces (tracks) by file name."""
    tracks: dict[str, list[dict]] = {}
    for face in faces:
        if face["kind"] == "video":
            tracks.setdefault(face["photo"].rsplit("/", 1)[-1], []).append(face)
    return tracks


def _photo_rows(db) -> dict[str, tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT path, kind, duration, width, height, status FROM photos").fetchall()
    return {
        path.rsplit("/", 1)[-1]: (kind, duration, width, height, status)
        for path, kind, duration, width, height, status in rows
    }


@pytest.mark.data
def test_every_clip_with_a_face_has_tracks_and_the_negative_none(library, clips):
    assert library["first"]["failed"] == 0, library["first"]["failures"]
    tracks = _video_faces(library["faces"])
    for name, clip in clips.items():
        if clip["who"]:
            assert tracks.get(name), f"no track in {name}"
        else:
            assert name not in tracks, f"the negative clip {name} has tracks: {tracks[name]}"
    for face in library["faces"]:
        if face["kind"] == "video":
            assert 0 <= face["start"] <= face["frame"] <= face["end"], face
        else:
            assert (face["start"], face["end"], face["frame"]) == (None, None, None), face


@pytest.mark.data
def test_videos_are_recorded_upright_with_their_duration(library, clips):
    rows = _photo_rows(library["db"])
    for name, clip in clips.items():
        kind, duration, width, height, status = rows[name]
        turned = abs(clip["display_rotation_deg"]) % 180 == 90
        upright = (clip["height"], clip["width"]) if turned else (clip["width"], clip["height"])
        assert (kind, status, (width, height)) == ("video", "ok", upright), name
        assert duration == pytest.approx(clip["duration_s"], abs=0.1), name
    assert {row[0] for name, row in rows.items() if name.endswith(".jpg")} == {"photo"}


@pytest.mark.data
@pytest.mark.parametrize("person", ["sv_61dc1ab7", "sv_61dc1bc5"])
def test_a_person_named_in_a_photo_is_found_in_their_clip_with_times(library, clips, person):
    db = library["db"]
    _run(db, "cluster")
    (reference,) = _json(db, "faces", "--photo", library["folder"] / "reference" / f"{person}.jpg")
    assert reference["person"] is not None, "the reference photo's face was not clustered with anyone"
    name = f"Clip Person {person[-4:]}"
    _run(db, "name", str(reference["person"]), name)
    (clip,) = [c for c in clips.values() if c["who"] == [person]]
    found = {item["path"].rsplit("/", 1)[-1]: item for item in _json(db, "find", name, "--detail")}
    video = found[clip["file"]]
    assert video["kind"] == "video" and found[f"{person}.jpg"]["kind"] == "photo"
    assert min(face["start"] for face in video["faces"]) <= TOLERANCE_S
    assert max(face["end"] for face in video["faces"]) >= clip["duration_s"] - TOLERANCE_S
    assert all(face["name"] == name for face in video["faces"])
    paths = _run(db, "find", name).stdout.splitlines()
    assert str(library["folder"] / clip["file"]) in paths
    assert f"{library['folder'] / clip['file']}\t0:0" in _run(db, "find", name, "--detail").stdout


@pytest.mark.data
def test_a_rescan_changes_nothing(library):
    again = _json(library["db"], "scan", library["folder"], "--jobs", "1")
    assert (again["new"], again["changed"], again["removed"], again["faces"]) == (0, 0, 0, 0)
    assert again["unchanged"] == library["first"]["new"]
    now = {
        face["id"]: (face["photo"], face["box"], face["start"], face["end"]) for face in _json(library["db"], "faces")
    }
    assert now == {face["id"]: (face["photo"], face["box"], face["start"], face["end"]) for face in library["faces"]}


@pytest.mark.data
def test_video_faces_get_thumbnails_from_their_frames(library, tmp_path):
    made = _json(library["db"], "report", "-o", tmp_path / "report")
    assert made["missing_photos"] == [] and made["faces"] == len(library["faces"])
    html = "".join(page.read_text() for page in (tmp_path / "report").rglob("*.html"))
    assert "video at 0:" in html


@pytest.mark.data
def test_worker_processes_find_the_same_tracks(library, tmp_path):
    folder = tmp_path / "clips"
    shutil.copytree(library["folder"], folder)
    db = tmp_path / "jobs.db"
    assert _json(db, "scan", folder, "--jobs", "2")["failed"] == 0

    def spans(faces):
        tracks = _video_faces(faces)
        return {
            name: sorted((round(f["start"], 1), round(f["end"], 1)) for f in found) for name, found in tracks.items()
        }

    assert spans(_json(db, "faces")) == spans(library["faces"])


@pytest.mark.data
def test_ray_workers_sent_the_bytes_find_the_same_tracks(library, tmp_path):
    pytest.importorskip("ray")
    folder = tmp_path / "clips"
    folder.mkdir()
    name = "sv_61dc1bc5_phone_rotated.mp4"  # turned by its display matrix: the bytes must carry it
    shutil.copy(library["folder"] / name, folder / name)
    db = tmp_path / "ray.db"
    scanned = run_photoface("--db", db, "scan", folder, "--ray", "--ship-bytes", "--json", timeout=300)
    assert scanned.returncode == 0, scanned.stderr
    assert scanned.json()["faces"] >= 1
    here = [(f["box"], f["start"], f["end"]) for f in library["faces"] if f["photo"].endswith(name)]
    assert [(f["box"], f["start"], f["end"]) for f in _json(db, "faces")] == here


@pytest.mark.data
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_a_video_scan_within_seconds_and_keeps_each_video_done(library, clips, tmp_path, jobs):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in clips:
        (folder / name).symlink_to(library["folder"] / name)
    db = tmp_path / "stop.db"
    process = start_photoface("--db", db, "scan", folder, "--jobs", jobs)
    deadline = time.monotonic() + 120
    while _stored(db) == 0:  # each video is committed when done, not with a group of 32 files
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    asked = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT
    assert time.monotonic() - asked < STOP_S
    stored = _stored(db)
    assert 0 < stored < len(clips)
    rest = _json(db, "scan", folder, "--jobs", jobs)
    assert (rest["unchanged"], rest["new"]) == (stored, len(clips) - stored)


def _stored(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_catalog_from_before_videos_keeps_its_photos_as_photos(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        migrations.apply(sqlite_utils.Database(conn), stop_before="m007_videos")
        conn.execute("INSERT INTO photos (path, size, mtime_ns, status, scanned_at) VALUES ('/a.jpg', 1, 1, 'ok', 'x')")
        conn.execute(
            "INSERT INTO faces (photo_id, x, y, w, h, score, size, landmarks, embedding, model) "
            "VALUES (1, 0, 0, 50, 50, 0.99, 50, x'', ?, 'm')",
            [np.ones(128, np.float32).tobytes()],
        )
    with Catalog.open(path) as catalog:
        (face,) = catalog.faces()
        stats = catalog.stats()
    assert (face["kind"], face["start"], face["end"], face["frame"]) == ("photo", None, None, None)
    assert (stats["photos"], stats["videos"], stats["live_clips"]) == (1, 0, 0)
