"""Videos: probing, upright frames, face tracks on the shared clips, and the linking rules."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from photoface import config
from photoface.clustering import ClusterSettings
from photoface.engine.pipeline import Face
from photoface.errors import ImageLoadError
from photoface.media import is_video_name, video
from photoface.media.tracks import LinkRules, Track, TrackLinker, analyse_video, read_ahead
from tests.conftest import data_path

SAME_PERSON = ClusterSettings().distance  # the clustering's same-person squared distance


def _clips() -> list[dict]:
    return json.loads(data_path("video", "clips.json").read_text())


def _clip_ids() -> list[str]:
    try:
        return [clip["file"] for clip in _clips()]
    except pytest.skip.Exception:
        return ["missing"]


def _clip(name: str) -> dict:
    return next(clip for clip in _clips() if clip["file"] == name)


def _with_faces() -> list[str]:
    return [name for name in _clip_ids() if not name.startswith("negative")]


@pytest.fixture(scope="module")
def analysed(engine) -> dict[str, tuple[video.VideoInfo, list[Track]]]:
    """Every shared clip analysed once at the defaults."""
    return {clip["file"]: analyse_video(engine, data_path("video", clip["file"])) for clip in _clips()}


# ----------------------------------------------------------------- the shared clips
@pytest.mark.data
@pytest.mark.parametrize("name", _clip_ids())
def test_probe_matches_the_clip_list(name):
    clip = _clip(name)
    info = video.probe(data_path("video", name))
    stored = (clip["width"], clip["height"])
    assert info.rotation == clip["display_rotation_deg"]
    assert info.size == (stored[::-1] if info.rotation % 180 else stored)
    assert info.duration == pytest.approx(clip["duration_s"], abs=0.01)
    assert info.fps == pytest.approx(clip["fps"], abs=0.01)
    assert info.codec == clip["video_codec"]


@pytest.mark.data
@pytest.mark.parametrize("name", _with_faces())
def test_the_person_is_found_and_every_track_is_them(name, analysed, engine):
    _, tracks = analysed[name]
    reference = max(engine.analyze(data_path("video", *_clip(name)["reference"])), key=lambda f: f.score * f.size)
    assert tracks, f"no face track in {name}"
    distances = [float(np.sum((track.face.embedding - reference.embedding) ** 2)) for track in tracks]
    assert max(distances) <= SAME_PERSON, f"{name}: a track is not the person of the reference photo: {distances}"


@pytest.mark.data
@pytest.mark.parametrize("name", _with_faces())
def test_tracks_span_the_clip_within_a_second(name, analysed):
    """The clips show the face from their first frame to their last."""
    info, tracks = analysed[name]
    assert min(track.start for track in tracks) <= 1.0
    assert max(track.end for track in tracks) >= info.duration - 1.0
    for track in tracks:
        assert track.start <= track.frame <= track.end
        assert track.detections >= 1


@pytest.mark.data
@pytest.mark.parametrize("name", _with_faces())
def test_track_faces_are_upright_in_upright_video_pixels(name, analysed):
    info, tracks = analysed[name]
    width, height = info.size
    for track in tracks:
        x, y, w, h = track.face.box
        assert x >= 0 and y >= 0 and x + w <= width + 1 and y + h <= height + 1
        eyes_y = track.face.landmarks[:2, 1].mean()
        mouth_y = track.face.landmarks[3:, 1].mean()
        assert eyes_y < mouth_y, f"{name}: the face at {track.frame:.2f} s is not upright"
        assert abs(float(np.linalg.norm(track.face.embedding)) - 1) < 1e-4


@pytest.mark.data
def test_the_crowd_seen_from_above_gives_no_tracks(analysed):
    _, tracks = analysed["negative_crowd_topdown_no_faces.avi"]
    assert tracks == []


@pytest.mark.data
def test_a_rotated_frame_is_upright_at_its_full_size():
    path = data_path("video", "sv_61dc1bc5_phone_rotated.mp4")
    frame = video.frame_at(path, 2.0, max_side=640)
    assert frame.full_size == (720, 1280)
    assert frame.image.size == (360, 640)
    assert frame.scale == pytest.approx(2.0)


@pytest.mark.data
def test_bytes_give_the_same_tracks_as_the_path(engine, analysed):
    name = "asr_6221e1a8_phone_3gp_qcif.3gp"
    path = data_path("video", name)
    info, tracks = analyse_video(engine, io.BytesIO(path.read_bytes()))
    assert info == analysed[name][0]
    spans = [(track.start, track.end, track.detections) for track in tracks]
    assert spans == [(track.start, track.end, track.detections) for track in analysed[name][1]]


@pytest.mark.data
def test_frames_are_sampled_by_time_not_by_index():
    """The 5 fps webcam clip sampled every 0.5 s gives one frame per 0.6 s (its frame spacing rounds up)."""
    path = data_path("video", "sv_61dc1afa_webcam_5fps.mp4")
    info, frames = video.sampled_frames(path, interval=0.5)
    times = [seconds for seconds, _ in frames]
    gaps = np.diff(times)
    assert times[0] == 0.0 and times[-1] >= info.duration - 0.5
    assert gaps.min() >= 0.5 - 1e-6 and gaps.max() <= 0.5 + 1 / info.fps + 1e-3


@pytest.mark.data
def test_a_video_that_takes_too_long_is_given_up(engine):
    path = data_path("video", "sv_61dc1ab7_phone_talking.mov")
    with pytest.raises(ImageLoadError, match="gave up after 0 s"):
        analyse_video(engine, path, time_limit=0.0)


@pytest.mark.data
def test_a_video_cut_before_its_index_fails_saying_so(tmp_path):
    """The iPhone clip keeps its index (moov) after the frames: its first half cannot be read."""
    source = data_path("video", "sv_61dc1ab7_phone_talking.mov").read_bytes()
    cut = tmp_path / "cut.mov"
    cut.write_bytes(source[: len(source) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt") as caught:
        video.probe(cut)
    assert caught.value.path == str(cut) and "\n" not in caught.value.reason


@pytest.mark.data
def test_a_video_damaged_in_the_middle_is_still_analysed(engine, tmp_path):
    """64 bytes of noise in the middle of the frames: the decoder conceals what it can and goes on."""
    source = bytearray(data_path("video", "sv_61dc1bc5_phone_rotated.mp4").read_bytes())
    middle = len(source) // 2
    source[middle : middle + 64] = np.random.default_rng(1).integers(0, 256, 64, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(source))
    info, tracks = analyse_video(engine, damaged)
    assert tracks and all(0 <= track.start <= track.end <= info.duration for track in tracks)


@pytest.mark.data
def test_frames_over_the_pixel_limit_are_refused(monkeypatch):
    monkeypatch.setattr(config, "MAX_VIDEO_PIXELS", 100_000)
    with pytest.raises(ImageLoadError, match="1280x720 pixel frames are over the 100,000-pixel limit"):
        video.probe(data_path("video", "sv_61dc1bc5_phone_rotated.mp4"))


def _flagged_clip(path: Path, stored: np.ndarray, rotation: int) -> Path:
    """A 1 s clip of ``stored`` (RGB) with a display matrix of ``rotation`` degrees, as phones write them."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        stream.set_display_rotation(rotation)
        for _ in range(10):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_every_display_rotation_is_turned_upright(tmp_path, rotation):
    stored = np.zeros((64, 128, 3), dtype=np.uint8)
    stored[:32, :32] = 255  # a white corner: top left as stored
    path = _flagged_clip(tmp_path / "flagged.mp4", stored, rotation)
    info = video.probe(path)
    frame = video.frame_at(path, 0.5)
    expected = np.asarray(Image.fromarray(stored).rotate(rotation, expand=True))  # PIL turns counter-clockwise
    assert info.rotation % 360 == rotation % 360  # PyAV reads 180 back as -180
    assert info.size == frame.full_size == frame.image.size == expected.shape[1::-1]
    assert np.abs(frame.array().astype(int) - expected).mean() < 8


class _WriteOnly(io.RawIOBase):
    """A pipe-like output: the WebM muxer cannot go back to write the duration."""

    def __init__(self, handle: io.BufferedWriter) -> None:
        self.handle = handle

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.handle.write(data)


def test_a_webm_that_says_no_duration_is_read_to_its_end(tmp_path):
    path = tmp_path / "streamed.webm"
    with open(path, "wb") as raw, av.open(_WriteOnly(raw), "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):  # 3 s, each frame a shade brighter
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    assert video.probe(path).duration == 0.0
    _, frames = video.sampled_frames(path)
    assert [seconds for seconds, _ in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert video.frame_at(path, 2.0).array().mean() == pytest.approx(20 * 8, abs=6)


# ----------------------------------------------------------------- files that are not videos
def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 8000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", r"empty file \(0 bytes\)"),
        (b"just some notes, saved as a video by mistake\n", "a text file, not a video: wrong extension"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4, "not a video PyAV can read"),
    ],
)
def test_files_that_are_not_videos_fail_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "clip.MOV"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as caught:
        video.probe(path)
    assert caught.value.path == str(path) and "\n" not in caught.value.reason


def test_an_audio_only_file_has_no_video_stream(tmp_path):
    with pytest.raises(ImageLoadError, match=r"no video stream \(audio only\)"):
        video.probe(_audio_only(tmp_path / "voice.mp4"))


def test_a_missing_file_and_a_folder_are_named(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        video.probe(tmp_path / "gone.mp4")
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(ImageLoadError, match="is a directory"):
        video.probe(tmp_path / "folder.mp4")


def test_video_names_in_any_case():
    assert is_video_name("IMG_0001.MOV") and is_video_name("a.b.webm")
    assert not is_video_name("IMG_0001.HEIC") and not is_video_name("mov")


# ----------------------------------------------------------------- linking rules
def _person(index: int) -> np.ndarray:
    """A unit embedding per person: different people are at squared distance 2."""
    embedding = np.zeros(128, dtype=np.float32)
    embedding[index] = 1.0
    return embedding


def _face(x: float, person: int, score: float = 0.99, size: float = 100.0, y: float = 100.0) -> Face:
    landmarks = np.array([[x + 30, y + 40], [x + 70, y + 40], [x + 50, y + 60], [x + 35, y + 80], [x + 65, y + 80]])
    return Face((x, y, size, size), score, landmarks.astype(np.float32), _person(person))


def _link(frames: list[tuple[float, list[Face]]], rules: LinkRules | None = None) -> list[Track]:
    linker = TrackLinker(rules)
    for seconds, faces in frames:
        linker.add(seconds, faces)
    return linker.finish()


def _who(track: Track) -> int:
    return int(np.argmax(track.face.embedding))


def test_two_faces_crossing_stay_two_tracks():
    """A walks right, B walks left; where they cross their boxes overlap, their embeddings differ."""
    frames = [(t * 0.5, [_face(100 + 60 * t, 0), _face(580 - 60 * t, 1)]) for t in range(9)]
    tracks = _link(frames)
    assert len(tracks) == 2
    assert sorted(_who(track) for track in tracks) == [0, 1]
    assert all(track.detections == 9 for track in tracks)


def test_a_face_missed_in_one_frame_continues_its_track():
    frames = [(0.0, [_face(100, 0)]), (0.5, [_face(105, 0)]), (1.0, []), (1.5, [_face(110, 0)])]
    (track,) = _link(frames)
    assert (track.start, track.end, track.detections) == (0.0, 1.5, 3)


def test_a_face_gone_longer_than_the_gap_starts_a_new_track():
    frames = [(0.0, [_face(100, 0)]), (0.5, [_face(100, 0)]), (0.5 + config.VIDEO_TRACK_GAP + 0.5, [_face(100, 0)])]
    assert [track.detections for track in _link(frames)] == [2, 1]


def test_two_people_side_by_side_are_never_one_track():
    """Even with the same embedding (twins), a track takes one face per frame."""
    frames = [(t * 0.5, [_face(100, 0), _face(205, 0)]) for t in range(4)]
    tracks = _link(frames)
    assert len(tracks) == 2
    assert sorted(round(track.face.box[0]) for track in tracks) == [100, 205]


def test_a_stranger_in_the_same_place_starts_a_new_track():
    frames = [(0.0, [_face(100, 0)]), (0.5, [_face(100, 0)]), (1.0, [_face(100, 1)]), (1.5, [_face(100, 1)])]
    assert [_who(track) for track in _link(frames)] == [0, 1]


def test_a_single_weak_detection_is_dropped_a_single_sure_one_kept():
    weak = config.VIDEO_TRACK_SINGLE_SCORE - 0.1
    frames = [(0.0, [_face(100, 0, score=weak), _face(400, 1, score=0.999)])]
    assert [_who(track) for track in _link(frames)] == [1]


def test_a_track_keeps_its_clearest_face_and_averages_its_clearest_embeddings():
    blurred = _face(100, 1, score=0.9, size=60)
    clear = [_face(100 + i, 0, size=100 + i) for i in range(LinkRules().mean_of)]
    noisy = Face(blurred.box, blurred.score, blurred.landmarks, (_person(0) + 0.5 * _person(1)) / np.sqrt(1.25))
    frames = [(0.0, [noisy])] + [(0.5 * (i + 1), [face]) for i, face in enumerate(clear)]
    (track,) = _link(frames)
    assert track.face.box == clear[-1].box and track.frame == 0.5 * len(clear)
    np.testing.assert_allclose(track.face.embedding, _person(0), atol=1e-6)  # the blurred face is not averaged in


# ----------------------------------------------------------------- reading ahead
def test_read_ahead_gives_every_item_in_order_and_raises_the_producers_error():
    assert list(read_ahead(iter(range(50)), 3)) == list(range(50))

    def broken() -> Iterator[int]:
        yield 1
        raise ImageLoadError("clip.mp4", "cannot decode video (corrupt)")

    with pytest.raises(ImageLoadError, match="corrupt"):
        list(read_ahead(broken(), 2))


def test_read_ahead_stopped_early_closes_the_source():
    closed = []

    def frames() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    ahead = read_ahead(frames(), 2)
    assert next(ahead) == 0
    ahead.close()
    assert closed == [True]


def test_read_ahead_gives_up_on_a_producer_stuck_longer_than_its_patience():
    def stuck() -> Iterator[int]:
        yield 1
        time.sleep(3)  # a decoder blocked inside one call
        yield 2

    started = time.monotonic()
    ahead = read_ahead(stuck(), 2, patience=0.3)
    assert next(ahead) == 1
    with pytest.raises(TimeoutError):
        next(ahead)
    assert time.monotonic() - started < 2.5
