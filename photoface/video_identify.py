"""Who is in a video: each face track named as ``identify`` names a photo's face, and a copy of
the video with every frame labelled, the boxes following their tracks between sampled frames.

The tracks are asked to keep their box in every sampled frame (``photoface.media.tracks``,
``paths``), which the labelled copy interpolates between. It is decoded and encoded one frame
at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from photoface.catalog import Catalog
from photoface.engine.pipeline import FaceEngine
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.media.tracks import Track, analyse_video
from photoface.media.video import VideoInfo, VideoSource, open_video, to_loaded
from photoface.people import match_people
from photoface.report import label_faces

# Frame times of the labelled copy, in milliseconds: every encoder takes it (MPEG-4 Part 2 no finer than 1/65535 s).
TIME_BASE = Fraction(1, 1000)
# Containers the labelled copy can be written as, by suffix (FFmpeg muxer names).
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# H.264 where the PyAV wheel has an encoder for it, else MPEG-4 Part 2 (every FFmpeg build has it).
ENCODERS = ("libx264", "libopenh264", "mpeg4")
# x264's "veryfast" preset: 10.7 s for the 174 frames of sv_61dc1ab7_phone_talking.mov (720x1280)
# against 24.3 s at its default "medium", and a smaller file (776 kB against 977 kB) at the same
# quality setting; "ultrafast" took 6.3 s for a file three times larger.
X264_OPTIONS = {"preset": "veryfast"}
# The other encoders are given a bit rate: bits per pixel per frame, about what x264 gave above.
BITS_PER_PIXEL = 0.1


@dataclass
class TrackPath:
    """Where a track's face was in each sampled frame it was found in."""

    times: list[float] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    def box_at(self, time: float) -> tuple[float, ...] | None:
        """The box at ``time`` seconds, interpolated between samples; None outside the track."""
        if not self.times or not self.times[0] <= time <= self.times[-1]:
            return None
        boxes = np.asarray(self.boxes)
        return tuple(float(np.interp(time, self.times, boxes[:, i])) for i in range(4))


@dataclass(frozen=True)
class VideoIdentity:
    """A video's tracks as ``identify --json`` lists them, and each track's path for the labelled copy."""

    info: VideoInfo
    tracks: list[dict]
    paths: list[TrackPath]

    def labels_at(self, time: float) -> list[dict]:
        """The tracks on screen at ``time`` seconds, each with its box there, for ``label_faces``."""
        labels = []
        for track, path in zip(self.tracks, self.paths, strict=True):
            box = path.box_at(time)
            if box is not None:
                labels.append({"box": box, "person": track["person"], "name": track["name"]})
        return labels


def identify_video(catalog: Catalog, engine: FaceEngine, video: VideoSource) -> VideoIdentity:
    """Each face track of ``video`` with the person it matches (named or not), or unknown.
    Raises ``ImageLoadError`` for a video that cannot be read or takes too long."""
    info, tracks, paths = follow_faces(engine, video)
    matches = match_people(catalog, np.array([t.face.embedding for t in tracks]).reshape(-1, 128), named_only=False)
    found = [_track_row(track, person, mean) for track, (person, mean) in zip(tracks, matches, strict=True)]
    return VideoIdentity(info, found, paths)


def _track_row(track: Track, person: dict | None, mean: float) -> dict:
    return {
        "start": round(track.start, 2),
        "end": round(track.end, 2),
        "frame": round(track.frame, 2),
        "detections": track.detections,
        "box": [round(v, 1) for v in track.face.box],
        "score": round(track.face.score, 4),
        "person": person["id"] if person else None,
        "name": person["name"] if person else None,
        "distance": round(mean, 4) if np.isfinite(mean) else None,
    }


def follow_faces(engine: FaceEngine, video: VideoSource) -> tuple[VideoInfo, list[Track], list[TrackPath]]:
    """``analyse_video``'s tracks, plus the path of each (its box in every sampled frame it is in)."""
    info, tracks = analyse_video(engine, video, paths=True)
    paths = [TrackPath([time for time, _ in track.path], [box for _, box in track.path]) for track in tracks]
    return info, tracks, paths


def annotate_video(video: VideoSource, identity: VideoIdentity, output: Path) -> Path:
    """A copy of ``video``, upright, same size and frame times, every frame labelled with the
    boxes and names of the tracks on screen (no audio). Streams: one frame held at a time."""
    container_format = check_output(output, video)
    info = identity.info
    try:
        with open_video(video) as (container, stream), _encoder(output, container_format, info, stream) as write:
            for frame in container.decode(stream):
                loaded = to_loaded(frame, info, None)
                label_faces(loaded.image, identity.labels_at(frame.time or 0.0))
                write(loaded.image, frame.time)
    except PhotofaceError:
        output.unlink(missing_ok=True)  # no half-written copy left to mistake for a whole one
        raise
    return output


def check_output(output: Path, video: VideoSource) -> str:
    """The container format for ``output``, its folder made; a one-line error when it cannot be written."""
    if isinstance(video, str | Path) and output.resolve() == Path(video).resolve():
        raise PhotofaceError(f"cannot write {output}: it is the video being read; choose another -o path")
    container_format = OUTPUT_FORMATS.get(output.suffix.lower())
    if container_format is None:
        suffixes = ", ".join(OUTPUT_FORMATS)
        raise PhotofaceError(f"cannot write {output}: write a video's labelled copy as one of {suffixes}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PhotofaceError(f"cannot write {output} ({exc.strerror}): choose another -o path") from None
    if not os.access(output.parent, os.W_OK):
        raise PhotofaceError(f"cannot write {output} (permission denied): choose another -o path")
    return container_format


def pick_encoder() -> str:
    """The first of ``ENCODERS`` this PyAV build can encode with."""
    found = next((name for name in ENCODERS if name in av.codecs_available), None)
    if found is None:
        raise PhotofaceError(f"this PyAV build has none of the encoders {', '.join(ENCODERS)}: cannot write a video")
    return found


@contextmanager
def _encoder(
    output: Path, container_format: str, info: VideoInfo, source: av.VideoStream
) -> Iterator[Callable[[Image.Image, float | None], None]]:
    """A function that encodes one upright frame at its time (seconds) into ``output``."""
    try:
        target = av.open(str(output), "w", format=container_format)
    except (OSError, av.FFmpegError) as exc:
        raise PhotofaceError(f"cannot write {output} ({exc}): choose another -o path") from None
    try:
        stream = _video_stream(target, info, _rate(info, source))
        stream.codec_context.time_base = TIME_BASE
        frame_times = _FrameTimes(stream.codec_context.time_base, info.fps)

        def write(image: Image.Image, time: float | None) -> None:
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = frame_times.pts(time), stream.codec_context.time_base
            target.mux(stream.encode(frame))

        yield write
        target.mux(stream.encode(None))
    except av.FFmpegError as exc:
        raise ImageLoadError(output, f"cannot encode the labelled copy ({exc})") from None
    finally:
        target.close()


def _video_stream(target: av.container.OutputContainer, info: VideoInfo, rate: Fraction) -> av.VideoStream:
    encoder = pick_encoder()
    stream = target.add_stream(encoder, rate=rate)
    stream.width, stream.height = info.size
    odd = info.size[0] % 2 or info.size[1] % 2
    stream.pix_fmt = "yuv444p" if odd and encoder == "libx264" else "yuv420p"  # x264's 4:2:0 needs even sides
    if encoder == "libx264":
        stream.options = X264_OPTIONS
    else:
        stream.bit_rate = round(BITS_PER_PIXEL * info.size[0] * info.size[1] * float(rate))
    return stream


def _rate(info: VideoInfo, source: av.VideoStream) -> Fraction:
    rate = source.average_rate or source.guessed_rate
    return Fraction(rate) if rate else Fraction(round(info.fps or 30))


class _FrameTimes:
    """Output timestamps: each frame's own time, kept strictly increasing (a frame without one,
    or repeating one, is placed one frame after the last)."""

    def __init__(self, time_base: Fraction, fps: float | None) -> None:
        self.time_base = time_base
        self.step = max(1, round(1 / ((fps or 30) * time_base)))
        self.last: int | None = None

    def pts(self, time: float | None) -> int:
        wanted = round(time / self.time_base) if time is not None else None
        if self.last is not None and (wanted is None or wanted <= self.last):
            wanted = self.last + self.step
        self.last = wanted or 0
        return self.last


def identify_and_label(catalog: Catalog, engine: FaceEngine, video: Path, output: Path | None) -> VideoIdentity:
    """``identify_video``, and with ``output`` its labelled copy (the output path is checked first)."""
    if output is not None:
        check_output(output, video)
    identity = identify_video(catalog, engine, video)
    if output is not None:
        annotate_video(video, identity, output)
    return identity
