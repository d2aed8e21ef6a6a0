"""Open a video with PyAV and give back upright, reduced frames as ``LoadedImage``, or fail with ``ImageLoadError``.

A video's frames are stored as the camera sensor saw them; phones add a display matrix that says
how to turn them upright (PyAV's ``frame.rotation``). Every frame given back here is turned, and
its ``full_size`` is the upright video size, so boxes map to upright video pixels as for photos.
Frames are scaled by FFmpeg's swscale while converting to RGB: no full-size RGB copy is made.
Sampling and the measurements behind every constant: docs/video.md.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
from PIL import Image

from photoface import config
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage, first_line, fit_within

VideoSource = str | Path | BinaryIO

# PyAV's rotation is counter-clockwise degrees; these transposes turn a stored frame upright,
# by quarter turns (a matrix of another angle is taken to its nearest quarter turn).
_UPRIGHT_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
# Dates a camera writes when its clock was never set (the QuickTime and Unix epochs).
_UNSET_DATES = ("1904-01-01", "1970-01-01")


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header and first frame say about it."""

    size: tuple[int, int]  # (width, height) upright, with the display-matrix rotation applied
    duration: float  # seconds
    fps: float | None
    rotation: int  # PyAV's frame.rotation: degrees the stored frames are turned (counter-clockwise) to show upright
    codec: str
    taken_at: str | None  # container creation time as ISO 8601 ("YYYY-MM-DDTHH:MM:SS"), if any


def source_name(source: VideoSource) -> str:
    """The path to name in errors: a file object's ``name`` when it has one."""
    if isinstance(source, str | Path):
        return str(source)
    return str(getattr(source, "name", "<video>"))


def probe(source: VideoSource) -> VideoInfo:
    """Size, duration, rate, rotation, codec and date of a video, decoding one frame at most.

    Raises ``ImageLoadError`` for a file that is not a video PyAV can read, has no video
    stream, no frames, or frames over the size limit.
    """
    with open_video(source) as (container, stream), _any_error_is_the_files(source):
        return _info(source, container, stream)


@contextmanager
def open_video(source: VideoSource) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """The opened container and its first video stream; every PyAV failure becomes ``ImageLoadError``."""
    name = source_name(source)
    _check_readable(source, name)
    if not isinstance(source, str | Path):
        source.seek(0)  # a file object may have been read before (probe, the scanner's hash)
    try:
        container = av.open(source if not isinstance(source, Path) else str(source), metadata_errors="ignore")
    except ImageLoadError:
        raise
    except Exception as exc:  # FFmpeg's demuxers raise many kinds of error on hostile files
        raise ImageLoadError(name, _open_reason(source, exc)) from None
    try:
        yield container, _video_stream(container, source)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(name, "not enough memory to decode it") from None
    except av.FFmpegError as exc:
        raise ImageLoadError(name, f"cannot decode video ({_what_failed(exc)})") from None
    finally:
        container.close()


@contextmanager
def _any_error_is_the_files(source: VideoSource) -> Iterator[None]:
    """Decoding a hostile file may make PyAV raise anything: it becomes the file's ``ImageLoadError``."""
    try:
        yield
    except (PhotofaceError, MemoryError, av.FFmpegError):
        raise  # open_video gives these their reasons
    except Exception as exc:
        raise ImageLoadError(source_name(source), f"cannot decode video ({_what_failed(exc)})") from None


def frame_at(source: VideoSource, time: float, max_side: int | None = None) -> LoadedImage:
    """The upright frame nearest ``time`` seconds (clamped to the video), longer side at most ``max_side``."""
    with open_video(source) as (container, stream), _any_error_is_the_files(source):
        info = _info(source, container, stream)
        target = max(0.0, min(time, info.duration) if info.duration > 0 else time)
        if stream.time_base is not None and target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        best: av.VideoFrame | None = None
        for frame in container.decode(stream):
            if best is None or _distance(frame, target) <= _distance(best, target):
                best = frame
            if frame.time is not None and frame.time >= target:
                break
        if best is None:
            raise ImageLoadError(source_name(source), f"no frame can be decoded near {target:.2f} s")
        return to_loaded(best, info, max_side)


def sampled_frames(
    source: VideoSource,
    *,
    interval: float = config.VIDEO_SAMPLE_INTERVAL,
    max_side: int | None = config.VIDEO_MAX_SIDE,
    time_limit: float | None = None,
    keyframes_only: bool = False,
) -> tuple[VideoInfo, Iterator[tuple[float, LoadedImage]]]:
    """The video's info and an iterator of (seconds, upright frame), one frame per ``interval`` seconds.

    Decodes through the file and converts only the frames it gives back, so one frame is held at
    a time. ``keyframes_only``: decode the keyframes alone, at the spacing the encoder chose.
    ``time_limit``: wall-clock seconds the whole pass may take (None: ``time_allowed`` of the
    duration, or of the time decoded so far where that is longer: a WebM may say no duration);
    over it, or when the decoder fails mid-file, the iterator raises ``ImageLoadError``.
    """
    info = probe(source)
    return info, _sample(source, info, interval if not keyframes_only else None, max_side, time_limit)


def time_allowed(duration: float) -> float:
    """Wall-clock seconds the analysis of a video ``duration`` seconds long may take."""
    return config.VIDEO_TIME_FLOOR + config.VIDEO_TIME_PER_SECOND * duration


def _sample(
    source: VideoSource, info: VideoInfo, interval: float | None, max_side: int | None, time_limit: float | None
) -> Iterator[tuple[float, LoadedImage]]:
    """``interval`` None: every keyframe, the others not decoded."""
    name = source_name(source)
    started = clock.monotonic()
    with open_video(source) as (container, stream), _any_error_is_the_files(source):
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.options = dict(config.VIDEO_DECODER_OPTIONS)
        # Frames no other frame refers to (most B-frames) are never decoded: half an iPhone
        # clip's frames. A sample due on one is taken from the next decoded frame instead.
        stream.codec_context.skip_frame = "NONKEY" if interval is None else "NONREF"
        due, seconds = 0.0, None
        step = 1 / info.fps if info.fps else interval or 1.0
        for frame in container.decode(stream):
            # A frame without a timestamp (some AVI muxers) is one frame step after the one before.
            seconds = frame.time if frame.time is not None else (0.0 if seconds is None else seconds + step)
            limit = time_allowed(max(info.duration, seconds)) if time_limit is None else time_limit
            if clock.monotonic() - started > limit:
                raise ImageLoadError(name, f"gave up after {limit:.3g} s: the video decodes too slowly or stalls")
            if seconds < due:
                continue
            _check_size(name, frame.width, frame.height)
            yield seconds, to_loaded(frame, info, max_side)
            due = seconds + (interval or 0.0)


def to_loaded(frame: av.VideoFrame, info: VideoInfo, max_side: int | None) -> LoadedImage:
    """One decoded frame as an upright RGB ``LoadedImage``, scaled while converting."""
    stored = (frame.width, frame.height)
    width, height = fit_within(stored, max_side) if max_side and max(stored) > max_side else stored
    image = frame.to_image(width=width, height=height)
    turn = _UPRIGHT_TURNS.get(_quarter_turns(frame.rotation))
    if turn is not None:
        image = image.transpose(turn)
    return LoadedImage(image, info.size, 1, info.taken_at)


def _info(source: VideoSource, container: av.container.InputContainer, stream: av.VideoStream) -> VideoInfo:
    name = source_name(source)
    codec = stream.codec_context.name
    _check_size(name, stream.codec_context.width, stream.codec_context.height)
    first = next(container.decode(stream), None)
    if first is None:
        raise ImageLoadError(name, "no video frame can be decoded (empty, truncated or corrupt)")
    _check_size(name, first.width, first.height)
    rotation = int(first.rotation)
    width, height = first.width, first.height
    size = (height, width) if _quarter_turns(rotation) % 2 else (width, height)
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    return VideoInfo(size, _duration(container, stream), fps, rotation, codec, _taken_at(container))


def _quarter_turns(rotation: float) -> int:
    return round(rotation / 90) % 4


def _video_stream(container: av.container.InputContainer, source: VideoSource) -> av.VideoStream:
    if container.streams.video:
        return container.streams.video[0]
    if container.streams.audio:
        raise ImageLoadError(source_name(source), "no video stream (audio only)")
    # FFmpeg reads some text files as subtitles or playlists: say what the file is.
    raise ImageLoadError(source_name(source), _not_video_reason(source, "no video stream"))


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > config.MAX_VIDEO_PIXELS:
        limit = f"{config.MAX_VIDEO_PIXELS:,}-pixel limit"
        raise ImageLoadError(name, f"{width}x{height} pixel frames are over the {limit} (possible decompression bomb)")
    if width < 1 or height < 1:
        raise ImageLoadError(name, f"{width}x{height} pixels: the header claims an empty frame")


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """Seconds, from the container's duration, else the video stream's; 0.0 when neither says."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _taken_at(container: av.container.InputContainer) -> str | None:
    """Apple's local capture time, else the container's creation time (UTC), as "YYYY-MM-DDTHH:MM:SS"."""
    tags = container.metadata
    for key in ("com.apple.quicktime.creationdate", "creation_time"):
        stamp = tags.get(key, "")
        text = stamp[:19].replace(" ", "T")
        digits = text.replace("-", "").replace("T", "").replace(":", "")
        if len(text) == 19 and digits.isdigit() and not text.startswith(_UNSET_DATES):
            return text
    return None


def _distance(frame: av.VideoFrame, target: float) -> float:
    return abs(frame.time - target) if frame.time is not None else float("inf")


def _check_readable(source: VideoSource, name: str) -> None:
    if not isinstance(source, str | Path):
        return
    path = Path(source)
    if not path.exists():
        raise ImageLoadError(name, "file not found")
    if path.is_dir():
        raise ImageLoadError(name, "is a directory, not a video")


def _open_reason(source: VideoSource, exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: check the file's read permission"
    return _not_video_reason(
        source, f"not a video PyAV can read: wrong extension, or truncated or corrupt ({_what_failed(exc)})"
    )


def _not_video_reason(source: VideoSource, otherwise: str) -> str:
    head = _head(source)
    if not head:
        return "empty file (0 bytes)"
    if head.isascii() and not any(byte in head for byte in bytes(range(9))):
        return "a text file, not a video: wrong extension"
    return otherwise


def _head(source: VideoSource) -> bytes:
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as handle:
                return handle.read(512)
        source.seek(0)
        return source.read(512)
    except OSError:
        return b""


def _what_failed(exc: BaseException) -> str:
    """FFmpeg's own words (its errors repeat the file name, which the reason already has)."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    return first_line(exc)
