"""Faces followed across a video's sampled frames: each track becomes one face of the video.

The engine finds faces in each sampled frame; ``TrackLinker`` links each to the track it
continues, by box overlap with the track's last face and by embedding distance, allowing a
face to be missed for a short gap. A track takes at most one face of a frame, so two people
in one frame are never one track. What a track keeps is bounded (its clearest few faces), so a
one-hour video streams. The rules' constants were measured: docs/video.md.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from photoface import config
from photoface.engine.pipeline import Face, FaceEngine
from photoface.errors import ImageLoadError
from photoface.imageio import LoadedImage
from photoface.media.video import VideoInfo, VideoSource, sampled_frames, source_name, time_allowed
from photoface.regions import iou


@dataclass(frozen=True)
class Track:
    """One face followed across a video."""

    face: Face  # the best frame's face (upright video pixels); embedding: unit mean over the clearest frames
    start: float  # seconds: first sampled frame the face was found in
    end: float  # seconds: last sampled frame the face was found in
    frame: float  # seconds: the frame ``face.box`` is from
    detections: int  # sampled frames the face was found in
    # (seconds, box) of every sampled frame the face was found in, when the linker was asked to
    # keep them (``TrackLinker(paths=True)``: the labelled copy of ``identify VIDEO``); else empty.
    path: tuple[tuple[float, tuple[float, float, float, float]], ...] = ()


@dataclass(frozen=True)
class LinkRules:
    """When a face continues a track (measured in docs/video.md)."""

    max_gap: float = config.VIDEO_TRACK_GAP  # seconds a face may go unseen and still continue its track
    min_iou: float = config.VIDEO_TRACK_IOU  # box overlap with the track's last face that counts as "same place"
    # Squared distance of a face's embedding to the track's (``_OpenTrack.distance``) allowed
    # in the same place, and for a face that moved there (no overlap).
    near: float = config.VIDEO_TRACK_NEAR
    far: float = config.VIDEO_TRACK_FAR
    mean_of: int = config.VIDEO_TRACK_MEAN_OF  # clearest faces whose embeddings make the track's
    min_single_score: float = config.VIDEO_TRACK_SINGLE_SCORE  # a one-detection track below this is dropped


def clarity(face: Face) -> float:
    """The project's "clearest" order: detection score times the box's shorter side."""
    return face.score * face.size


@dataclass
class _OpenTrack:
    """A track still being followed; keeps its ``mean_of`` clearest faces only."""

    start: float
    last_time: float
    last: Face
    detections: int = 0
    clearest: list[tuple[float, int, float, Face]] = field(default_factory=list)  # min-heap (clarity, seq, time, face)
    recent: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=config.VIDEO_TRACK_RECENT))
    path: list[tuple[float, tuple[float, float, float, float]]] | None = None  # kept only when asked

    def add(self, time: float, face: Face, keep: int, seq: int) -> None:
        self.last_time, self.last = time, face
        self.detections += 1
        if self.path is not None:
            self.path.append((time, face.box))
        self.recent.append(face.embedding)
        entry = (clarity(face), seq, time, face)
        if len(self.clearest) < keep:
            heapq.heappush(self.clearest, entry)
        else:
            heapq.heappushpop(self.clearest, entry)

    def distance(self, face: Face) -> float:
        """Squared distance of ``face`` to this track's last face or the mean of its recent ones, the nearer.

        The last face follows a head turning away; the mean is steadier through one blurred frame.
        """
        to_last = float(np.sum((self.last.embedding - face.embedding) ** 2))
        return min(to_last, float(np.sum((unit_mean(self.recent) - face.embedding) ** 2)))

    def track(self) -> Track:
        _, _, best_time, best = max(self.clearest)
        embedding = unit_mean([face.embedding for *_, face in self.clearest])
        return Track(
            Face(best.box, best.score, best.landmarks, embedding, signature=best.signature),
            self.start,
            self.last_time,
            best_time,
            self.detections,
            tuple(self.path or ()),
        )


def unit_mean(embeddings: Iterable[np.ndarray]) -> np.ndarray:
    mean = np.mean(list(embeddings), axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


class TrackLinker:
    """Links the faces of successive sampled frames into tracks.

    >>> linker = TrackLinker()
    >>> for time, faces in frames:
    ...     linker.add(time, faces)
    >>> tracks = linker.finish()
    """

    def __init__(self, rules: LinkRules | None = None, *, paths: bool = False) -> None:
        """``paths``: each track also keeps its box in every sampled frame (``Track.path``),
        which grows with the video's length; the scan keeps only the clearest faces."""
        self.rules = rules or LinkRules()
        self.paths = paths
        self._open: list[_OpenTrack] = []
        self._done: list[Track] = []
        self._seq = itertools.count()

    def add(self, time: float, faces: list[Face]) -> None:
        """The faces found in the sampled frame at ``time`` seconds (frames in time order)."""
        self._close_before(time - self.rules.max_gap)
        taken_tracks: set[int] = set()
        taken_faces: set[int] = set()
        for _, track_index, face_index in sorted(self._candidates(faces)):
            if track_index in taken_tracks or face_index in taken_faces:
                continue
            taken_tracks.add(track_index)
            taken_faces.add(face_index)
            self._open[track_index].add(time, faces[face_index], self.rules.mean_of, next(self._seq))
        for face_index, face in enumerate(faces):
            if face_index not in taken_faces:
                started = _OpenTrack(time, time, face, path=[] if self.paths else None)
                started.add(time, face, self.rules.mean_of, next(self._seq))
                self._open.append(started)

    def finish(self) -> list[Track]:
        """Every track, in order of start; spurious one-detection tracks left out."""
        self._close_before(float("inf"))
        return sorted(self._done, key=lambda track: (track.start, track.face.box[0]))

    def _candidates(self, faces: list[Face]) -> list[tuple[float, int, int]]:
        """(squared distance, track, face) for every pair the rules allow."""
        pairs = []
        for track_index, track in enumerate(self._open):
            for face_index, face in enumerate(faces):
                distance = track.distance(face)
                overlaps = iou(track.last.box, face.box) >= self.rules.min_iou
                if distance <= (self.rules.near if overlaps else self.rules.far):
                    pairs.append((distance, track_index, face_index))
        return pairs

    def _close_before(self, time: float) -> None:
        still_open = []
        for track in self._open:
            if track.last_time >= time:
                still_open.append(track)
            elif track.detections > 1 or track.last.score >= self.rules.min_single_score:
                self._done.append(track.track())
        self._open = still_open


def analyse_video(
    engine: FaceEngine,
    source: VideoSource,
    *,
    interval: float = config.VIDEO_SAMPLE_INTERVAL,
    max_side: int | None = config.VIDEO_MAX_SIDE,
    time_limit: float | None = None,
    keyframes_only: bool = False,
    rules: LinkRules | None = None,
    paths: bool = False,
) -> tuple[VideoInfo, list[Track]]:
    """The video's info and its face tracks, analysing one frame per ``interval`` seconds.

    Frames are decoded with their longer side at most ``max_side`` and analysed
    ``config.VIDEO_BATCH_FRAMES`` at a time, so memory holds a few frames whatever the length.
    ``source``: a path or a file object of the file's bytes. ``time_limit``: wall-clock seconds
    allowed for the whole pass, and for the wait for any one frame (None: ``video.time_allowed``
    of the duration, see ``sampled_frames``). ``paths``: each track keeps its box in every sampled
    frame (``TrackLinker``). Raises ``ImageLoadError`` with a one-line reason
    for a file that cannot be read, breaks off, or takes too long.
    """
    info, frames = sampled_frames(
        source, interval=interval, max_side=max_side, time_limit=time_limit, keyframes_only=keyframes_only
    )
    patience = time_allowed(info.duration) if time_limit is None else time_limit
    linker = TrackLinker(rules, paths=paths)
    batch: list[tuple[float, LoadedImage]] = []
    try:
        for sample in read_ahead(frames, config.VIDEO_BATCH_FRAMES, patience):
            batch.append(sample)
            if len(batch) >= config.VIDEO_BATCH_FRAMES:
                _link_batch(engine, linker, batch)
                batch = []
    except TimeoutError:
        stalled = f"gave up after {patience:.3g} s waiting for one frame: the decoder stalls"
        raise ImageLoadError(source_name(source), stalled) from None
    _link_batch(engine, linker, batch)
    return info, linker.finish()


def _link_batch(engine: FaceEngine, linker: TrackLinker, batch: list[tuple[float, LoadedImage]]) -> None:
    found = engine.analyze_images([image for _, image in batch])
    for (time, _), faces in zip(batch, found, strict=True):
        linker.add(time, faces)


Item = TypeVar("Item")
_END = object()


def read_ahead(items: Iterator[Item], depth: int, patience: float | None = None) -> Iterator[Item]:
    """``items`` made in a background thread, at most ``depth`` ahead of the caller.

    The decoder (FFmpeg releases the GIL) then works while the engine runs on the frames before.
    An exception in the background is raised here; stopping early stops and closes ``items``.
    Waiting more than ``patience`` seconds for one item raises ``TimeoutError``: a decoder stuck
    inside one FFmpeg call is left behind in its daemon thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((_END, None))
        except BaseException as error:  # handed to the caller's thread, which raises it
            hand_over((_END, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="video-decode", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item, error = ready.get(timeout=patience)
            except queue.Empty:
                raise TimeoutError from None
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=1.0)
