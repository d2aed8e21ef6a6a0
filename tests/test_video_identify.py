"""``photoface identify VIDEO`` on the shared clips: each track named as a photo's face is, and
``-o`` writes an upright copy of the clip with every frame labelled."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from photoface.cli import EXIT_ERROR, EXIT_NOTHING_FOUND, app
from photoface.media.video import open_video, probe, to_loaded
from photoface.video_identify import TrackPath
from tests.conftest import data_path

pytestmark = pytest.mark.data
runner = CliRunner()
NAMED = "sv_61dc1ab7"  # in the catalog, from people/ (four selfies, none of them a frame of the clip)
OTHERS = ("sv_61db424b", "sv_61dc197c")  # two more people of the catalog, neither in any clip


def _run(db: Path, *args: str | Path, code: int = 0):
    result = runner.invoke(app, ["--db", str(db), *map(str, args)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """Three people named from their photos (the largest face of each), the clips' other people absent."""
    root = tmp_path_factory.mktemp("video-identify")
    for person in (NAMED, *OTHERS):
        shutil.copytree(data_path("people", person), root / "library" / person)
    db = root / "c.db"
    _run(db, "scan", root / "library")
    largest: dict[str, dict] = {}
    for face in json.loads(_run(db, "faces", "--json").stdout):
        if face["size"] > largest.get(face["photo"], {"size": 0})["size"]:
            largest[face["photo"]] = face
    for photo, face in sorted(largest.items()):
        _run(db, "move", str(face["id"]), os.path.basename(os.path.dirname(photo)))
    return db


def _identify(db: Path, clip: str, *args: str | Path) -> list[dict]:
    return json.loads(_run(db, "identify", data_path("video", clip), "--json", *args).stdout)


def test_the_person_named_in_photos_is_named_in_the_clip(catalog):
    clip = data_path("video", "sv_61dc1ab7_phone_talking.mov")
    (track,) = _identify(catalog, clip.name)
    assert track["name"] == NAMED and track["distance"] < 1.0
    # She faces the camera the whole clip: the track spans it, to within a sampling interval or two.
    assert track["start"] < 1.0 and track["end"] > probe(clip).duration - 1.5
    assert track["start"] <= track["frame"] <= track["end"]
    assert track["detections"] >= 8


@pytest.mark.parametrize("clip", ["sv_61dc1bc5_phone_rotated.mp4", "sv_61dc1afa_webcam_5fps.mp4"])
def test_people_not_in_the_catalog_are_unknown(catalog, clip):
    tracks = _identify(catalog, clip)
    assert tracks, "the face is found"
    for track in tracks:
        assert track["person"] is None and track["name"] is None
        assert track["distance"] is not None and track["distance"] > 0


def test_a_clip_without_faces_is_nothing_found(catalog):
    clip = data_path("video", "negative_crowd_topdown_no_faces.avi")
    result = _run(catalog, "identify", clip, code=EXIT_NOTHING_FOUND)
    assert "no face in" in result.output


def _upright_frames(path: Path) -> list[tuple[float, np.ndarray]]:
    """(seconds, upright RGB pixels) of every frame."""
    info = probe(path)
    with open_video(path) as (container, stream):
        return [
            (frame.time, np.asarray(to_loaded(frame, info, None).image, np.int16)) for frame in container.decode(stream)
        ]


def _outline(shape: tuple[int, ...], box: list[float], margin: int) -> np.ndarray:
    """Pixels within ``margin`` of the box's outline."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    x, y, w, h = box
    inside_outer = (xs >= x - margin) & (xs <= x + w + margin) & (ys >= y - margin) & (ys <= y + h + margin)
    inside_inner = (xs > x + margin) & (xs < x + w - margin) & (ys > y + margin) & (ys < y + h - margin)
    return inside_outer & ~inside_inner


def test_the_labelled_copy_is_upright_whole_and_has_the_boxes_drawn(catalog, tmp_path):
    clip = data_path("video", "asr_6221e1a8_phone_3gp_qcif.3gp")  # stored 176x144 with a 90-degree turn
    output = tmp_path / "labelled.mp4"
    tracks = _identify(catalog, clip.name, "-o", output)
    original, labelled = _upright_frames(clip), _upright_frames(output)
    assert labelled[0][1].shape == original[0][1].shape == (176, 144, 3)
    assert len(labelled) == len(original)
    assert np.allclose([t for t, _ in labelled], [t for t, _ in original], atol=0.002), "each frame at its own time"
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.name in ("h264", "mpeg4")
        assert not container.streams.audio

    assert tracks
    for track in tracks:
        # At the track's best frame the box drawn is its box: the outline differs from the clip
        # far more than the rest of the frame does (measured: 10-15 times; the encoding's noise is the rest).
        best = min(range(len(original)), key=lambda i: abs(original[i][0] - track["frame"]))
        difference = np.abs(labelled[best][1] - original[best][1]).max(axis=2)
        outline = _outline(difference.shape, track["box"], 3)
        assert difference[outline].mean() > 4 * difference[~outline].mean(), track
    # Between tracks (the clip has a gap the linker does not bridge) nothing is drawn (times are rounded to 0.01).
    gap = [
        i
        for i, (time, _) in enumerate(original)
        if not any(t["start"] - 0.02 <= time <= t["end"] + 0.02 for t in tracks)
    ]
    for index in gap:
        difference = np.abs(labelled[index][1] - original[index][1]).max(axis=2)
        for track in tracks:
            outline = _outline(difference.shape, track["box"], 3)
            assert difference[outline].mean() < 2 * difference[~outline].mean(), (index, track)


def test_a_bad_output_path_is_one_line(catalog, tmp_path):
    clip = data_path("video", "sv_61dc1afa_webcam_5fps.mp4")
    result = _run(catalog, "identify", clip, "-o", tmp_path / "labelled.gif", code=EXIT_ERROR)
    assert "labelled.gif" in result.output and ".mp4" in result.output
    assert len(result.output.strip().splitlines()) == 1
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(clip.read_bytes())
    result = _run(catalog, "identify", copy, "-o", copy, code=EXIT_ERROR)
    assert "it is the video being read" in result.output and copy.read_bytes() == clip.read_bytes()
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    result = _run(catalog, "identify", clip, "-o", blocked / "labelled.mp4", code=EXIT_ERROR)
    assert "cannot write" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_file_that_is_not_a_video_is_one_line(catalog, tmp_path):
    notes = tmp_path / "notes.mov"
    notes.write_text("not a movie\n")
    result = _run(catalog, "identify", notes, code=EXIT_ERROR)
    assert result.output.strip() == f"error: {notes}: a text file, not a video: wrong extension"


def test_boxes_follow_a_track_between_its_samples():
    path = TrackPath([1.0, 2.0, 4.0], [(10, 20, 30, 40), (20, 20, 30, 40), (20, 40, 50, 40)])
    assert path.box_at(1.5) == (15, 20, 30, 40)
    assert path.box_at(3.0) == (20, 30, 40, 40)
    assert path.box_at(4.0) == (20, 40, 50, 40)
    assert path.box_at(0.9) is None and path.box_at(4.1) is None
    assert TrackPath().box_at(1.0) is None
