"""The scan service: crawler -> engine -> catalog.

A photo's way, top to bottom:

1. ``walk`` lists the image and video files; one ``stat`` each. Same size and mtime as catalogued:
   unchanged, nothing more is read. A Live Photo's clip (``IMG_0001.MOV`` beside ``IMG_0001.HEIC``)
   is recorded with its photo (``photos.live_clip``), never scanned as a video of its own.
2. Decoding threads read each new or changed file once, hash it (BLAKE2b) and, unless the
   content is already catalogued, decode it (Pillow releases the GIL while decoding). A video
   is only hashed there: its frames are decoded where the engine runs, a few at a time
   (``photoface.media.tracks.analyse_video``), and each face track found is one face of it.
3. Known content is a move (the old path is gone from disk: the photo keeps its id, faces
   and names), a duplicate (recorded, not analysed) or a touched file.
4. New content goes through the engine in batches (faces of several photos embedded
   together), then every photo of a group is written in one transaction.
5. After a complete walk, catalogued photos whose files are gone are removed with their
   faces (people and names stay), unless an exact copy survives: it takes the original's
   place, faces and names included.

Ctrl-C, SIGTERM, SIGHUP, kill -9, a full disk or a catalog that cannot be written any more lose
at most the group in flight: the next scan finds the committed photos unchanged and carries on.
A file that changes between the walk and the read is taken as it is when read; one that is
still being written (a copy in progress) is left for the next scan.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from photoface.catalog import (
    PROCESS_GONE,
    Catalog,
    PhotoRecord,
    describe_write_fault,
    is_under,
    is_write_fault,
    path_to_db,
    printable,
)
from photoface.crawler import FileEntry, WalkError, walk
from photoface.engine import signature
from photoface.errors import CatalogError, ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage, load_image
from photoface.media import is_video_name

if TYPE_CHECKING:  # the engine (onnxruntime) loads only where a scan builds one
    from photoface.engine import Face, FaceEngine
    from photoface.media.tracks import Track

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanOptions:
    rescan: bool = False  # analyse every photo again, changed or not
    include_hidden: bool = False
    jobs: int = 2  # decoding threads
    group_size: int = 32  # photos per transaction (what a kill can lose)
    batch_photos: int = 16  # photos whose faces are embedded together


@dataclass
class ScanSummary:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    failed: int = 0
    duplicates: int = 0
    faces: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of this scan
    warnings: list[str] = field(default_factory=list)
    analysed: list[str] = field(default_factory=list)  # photos whose faces this scan stored (not videos)
    live_clips: int = 0  # Live Photo clips found beside their photos (part of them, not scanned alone)
    interrupted: bool = False
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in ("new", "changed", "unchanged", "moved", "removed", "failed", "duplicates", "faces")
        }


@dataclass(frozen=True)
class EngineSettings:
    """How a worker of a remote analysis (a process, a Ray actor) builds its engine: the same
    profile and device as a local scan."""

    profile: str
    device: str
    overrides: tuple[tuple[str, object], ...] = ()

    def build(self, **extra: object) -> FaceEngine:
        from photoface.engine import FaceEngine

        return FaceEngine.from_profile(self.profile, self.device, **dict(self.overrides), **extra)


class RemoteAnalysis(Protocol):
    """Photos analysed elsewhere (``photoface.distributed``): each item comes back as a
    ``Prepared`` holding what was found (``analysed``), an error, or why it was skipped."""

    def prepared(
        self, todo: list[tuple[FileEntry, PhotoRecord | None]], *, rescan: bool, known: frozenset[str]
    ) -> Iterator[Prepared]: ...


class ScanProgress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, photos: int, faces: int) -> None: ...


class ScanInterrupted(Exception):  # noqa: N818 - it is a signal, not an error
    """The scan stopped before its end; carries what was committed and why.

    ``signum`` is the signal that stopped it (SIGINT for Ctrl-C, SIGTERM, SIGHUP), or None when
    the catalog could not be written any more (``reason`` says what to do).
    """

    def __init__(self, summary: ScanSummary, reason: str, signum: int | None = None) -> None:
        super().__init__(reason)
        self.summary, self.reason, self.signum = summary, reason, signum


class StopSignal(BaseException):  # like KeyboardInterrupt: no ``except Exception`` takes it
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# Signals that end a scan the way Ctrl-C does: systemd and kill send SIGTERM, a closed
# terminal SIGHUP.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise ``StopSignal`` in the main thread (once)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a scan run from a worker keeps the defaults
        return

    def stop(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:  # a second signal must not break the clean-up of the first
            signal.signal(sig, signal.SIG_IGN)
        raise StopSignal(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class Analysed:
    """What the engine found in one photo or video, here or on a cluster's worker: what the
    catalog stores of it, without the pixels."""

    full_size: tuple[int, int]  # upright
    orientation: int
    taken_at: str | None
    faces: list[Face] | list[Track] | str  # a video's face tracks; or why the engine failed on it
    kind: str = "photo"  # or "video"
    duration: float | None = None  # seconds, of a video


@dataclass(frozen=True)
class Prepared:
    """A new or changed file after the decoding thread: hash, and image or error.

    ``entry`` holds the size and mtime the file had when it was read, which may differ from
    what the walk saw. ``skipped`` says why it is not recorded at all this time: it vanished
    before it could be read, or it was still being written.
    """

    entry: FileEntry
    own: PhotoRecord | None  # the catalog's row for this path, if any
    digest: str | None = None
    image: LoadedImage | None = None
    video: str | bytes | None = None  # a video to analyse: its path, or its bytes sent from elsewhere
    error: str | None = None
    reanalyse: bool = False  # --rescan of content the catalog already holds for this path
    skipped: str | None = None
    analysed: Analysed | None = None  # once the engine has seen it (``image`` is then dropped)

    @property
    def kind(self) -> str:
        return "changed" if self.own else "new"

    @property
    def waiting(self) -> bool:
        """Decoded (or a video ready to be) and not analysed yet: work for the engine."""
        return self.image is not None or self.video is not None


def _lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".scan-lock")


@contextmanager
def scan_lock(db_path: Path) -> Iterator[None]:
    """One scan per catalog at a time; a second gets a clear error instead of waiting.

    The lock is the kernel's (flock): it goes with the process, however that ends, so a scan
    killed with kill -9 never leaves a stale lock behind.
    """
    try:
        handle = open(_lock_path(db_path), "a+")  # noqa: SIM115 - held for the whole scan
    except OSError as exc:
        raise CatalogError(describe_write_fault(db_path, exc, "lock")) from None
    with handle:
        for attempt in range(10):  # a moment's grace: `status` may be peeking at the lock
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 9:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise CatalogError(
                        f"another scan (pid {holder}) is running on {db_path}: wait for it to finish"
                    ) from None
                time.sleep(0.05)
        with contextlib.suppress(OSError):  # the pid is a courtesy; a full disk must not stop here
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def last_scan(catalog: Catalog) -> dict | None:
    """The latest scan as it is now: one still marked running whose process is gone (kill -9,
    a power cut, a full disk that kept even the last write out) is reported interrupted."""
    row = catalog.last_scan()
    if row is not None and row["status"] == "running" and not scan_running(catalog.path):
        return {**row, "status": "interrupted", "stop_reason": PROCESS_GONE}
    return row


def scan_running(db_path: Path) -> bool:
    """Whether a scan process holds the catalog's scan lock right now."""
    try:
        with open(_lock_path(db_path), "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


class Scanner:
    """One scan of some folders into a catalog."""

    def __init__(
        self,
        catalog: Catalog,
        engine: FaceEngine,
        options: ScanOptions | None = None,
        progress: ScanProgress | None = None,
        *,
        remote: RemoteAnalysis | None = None,
    ) -> None:
        self.catalog, self.engine = catalog, engine
        self.options = options or ScanOptions()
        self.progress = progress
        self.remote = remote  # None: decoded in threads here, analysed by ``engine``
        self.summary = ScanSummary()
        self.known_hashes: set[str] = set()
        self.moved_ids: set[int] = set()
        self.vanished: set[str] = set()  # files gone between the walk and the read
        self.started = time.perf_counter()
        self.scan_id: int | None = None

    def run(self, roots: Sequence[Path]) -> ScanSummary:
        """Scan ``roots``; raises ``ScanInterrupted`` when a signal or a catalog fault stops it."""
        self.started = time.perf_counter()
        roots = [Path(os.path.abspath(root)) for root in roots]
        with scan_lock(self.catalog.path), stop_signals_raise():
            try:
                self.scan_id = self.catalog.start_scan(roots, self.engine.provider, self.engine.model_id)
                self._scan(roots)
                self.summary.seconds = time.perf_counter() - self.started
                self.catalog.finish_scan(self.scan_id, "finished", self.summary.counts())
            except KeyboardInterrupt:
                self._stopped("interrupted (Ctrl-C)", signal.SIGINT)
            except StopSignal as stop:
                self._stopped(f"stopped by {stop}", stop.signum)
            except CatalogError as exc:  # the catalog file was deleted or replaced meanwhile
                self._stopped(str(exc))
            except (sqlite3.Error, OSError) as exc:
                if not is_write_fault(exc):
                    self._close_scan("failed", f"{type(exc).__name__}: {exc}")
                    raise
                self._stopped(describe_write_fault(self.catalog.path, exc))
            except BaseException as exc:
                self._close_scan("failed", f"{type(exc).__name__}: {exc}")
                raise
        return self.summary

    def _stopped(self, reason: str, signum: int | None = None) -> None:
        """End the scan early: what was committed stays, the scan row says why."""
        self.summary.interrupted = True
        self.summary.seconds = time.perf_counter() - self.started
        self._close_scan("interrupted", reason)
        raise ScanInterrupted(self.summary, reason, signum) from None

    def _close_scan(self, status: str, reason: str) -> None:
        # The disk may still be full: then the row stays 'running', and `status` (which sees that
        # no process holds the scan lock) and the next scan call it interrupted.
        if self.scan_id is not None:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.catalog.finish_scan(self.scan_id, status, self.summary.counts(), reason)

    def _scan(self, roots: list[Path]) -> None:
        existing = self.catalog.photos_under(roots)
        seen: set[str] = set()
        found_per_root = dict.fromkeys(roots, 0)
        todo: list[tuple[FileEntry, PhotoRecord | None]] = []
        clips: set[str] = set()  # Live Photo clips: part of their photos, never videos of their own
        clips_changed: list[tuple[int, str | None]] = []
        for item in walk(roots, include_hidden=self.options.include_hidden):
            if isinstance(item, WalkError):
                self._fail(item.path, item.reason)
                continue
            seen.add(item.path)
            if item.live_clip is not None:
                clips.add(item.live_clip)
            for root in roots:
                if is_under(item.path, root):
                    found_per_root[root] += 1
            record = existing.get(item.path)
            if record and not self.options.rescan and (record.size, record.mtime_ns) == (item.size, item.mtime_ns):
                self.summary.unchanged += 1
                if record.live_clip != item.live_clip:  # a clip added beside the photo, or taken away
                    clips_changed.append((record.id, item.live_clip))
            else:
                todo.append((item, record))
        self.summary.live_clips = len(clips)
        if clips_changed:
            with self.catalog.transaction():
                for photo_id, clip in clips_changed:
                    self.catalog.set_live_clip(photo_id, clip)
        if self.progress:
            self.progress.start(len(todo))
        self.known_hashes = self.catalog.known_hashes()
        self._process(todo)
        self._sign_earlier_faces(roots)
        # A root found empty, or gone by now (a drive unplugged mid-scan), removes nothing.
        empty_roots = [root for root, count in found_per_root.items() if count == 0 or not root.exists()]
        self._remove_missing(existing, seen - self.vanished, empty_roots, clips)
        _refresh_face_index(self.catalog)

    # ----------------------------------------------------------------- stages
    def _process(self, todo: list[tuple[FileEntry, PhotoRecord | None]]) -> None:
        if self.remote is not None:  # analysed by worker processes or a cluster; this process only writes
            known = frozenset(self.known_hashes)
            self._commit_in_groups(self.remote.prepared(todo, rescan=self.options.rescan, known=known))
            return
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="decode") as pool:
            prepared = _bounded_map(pool, self._prepare, todo, ahead=self.options.batch_photos)
            try:
                self._commit_in_groups(self._analysed(prepared))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _sign_earlier_faces(self, roots: list[Path]) -> None:
        """Give the faces scanned before signatures existed theirs, from each photo and the
        stored landmarks (no detector: a decode per photo), so near-copies among them are found
        like new ones. A photo that no longer loads gets the empty signature (nothing to compare)."""
        unsigned = self.catalog.unsigned_faces(roots)
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="sign") as pool:
            paths = list(unsigned)
            for start in range(0, len(paths), self.options.group_size):
                part = paths[start : start + self.options.group_size]
                signed = pool.map(lambda path: _signatures_of(path, unsigned[path]), part)
                self.catalog.set_signatures(pair for pairs in signed for pair in pairs)

    def _commit_in_groups(self, analysed: Iterator[Prepared]) -> None:
        """Commit every ``group_size`` files, and after each video, so progress moves and a stop
        loses little whatever the mix."""
        while group := _until_video(analysed, self.options.group_size):
            self._commit_group(group)

    def _prepare(self, item: tuple[FileEntry, PhotoRecord | None]) -> Prepared:
        """Runs in a decoding thread: read once, hash, decode unless the content is known."""
        walked, own = item
        return prepare_file(walked, own, self.engine.max_side, known=self.known_hashes, rescan=self.options.rescan)

    def _analysed(self, prepared: Iterator[Prepared]) -> Iterator[Prepared]:
        """The engine's work, a batch of photos at a time: each photo comes out holding what was
        found (``analysed``) instead of its pixels, so only one batch of decoded images (and the
        one being decoded ahead) is alive at a time, whatever the group size."""
        seen: set[str] = set()
        while batch := _until_video(prepared, self.options.batch_photos):
            # Identical files: only the first is analysed; the others are copies of it.
            fresh = [p.waiting and not self._known(p, seen) for p in batch]
            seen.update(p.digest for p, new in zip(batch, fresh, strict=True) if new)
            yield from analyse_prepared(
                self.engine, [p if new else _without_pixels(p, None) for p, new in zip(batch, fresh, strict=True)]
            )

    def _known(self, prepared: Prepared, seen: set[str]) -> bool:
        """Content analysed earlier in this scan, or already in the catalog (unless --rescan)."""
        return prepared.digest in seen or (prepared.digest in self.known_hashes and not prepared.reanalyse)

    def _commit_group(self, group: list[Prepared]) -> None:
        """Write a group of analysed photos in one transaction."""
        faces: dict[str, list[Face] | str] = {}
        seen: set[str] = set()
        for prepared in group:
            # A worker elsewhere analyses what it is sent; content the catalog or this group
            # already holds is a move, copy or touch, whatever was found in it.
            if prepared.analysed is not None and not self._known(prepared, seen):
                faces[prepared.entry.path] = prepared.analysed.faces
                seen.add(prepared.digest)
        found_faces = 0
        self.catalog.check_in_place()
        counted = replace(
            self.summary,
            failures=list(self.summary.failures),
            warnings=list(self.summary.warnings),
            analysed=list(self.summary.analysed),
        )
        try:
            with self.catalog.transaction():
                for prepared in group:
                    found_faces += self._write(prepared, faces.get(prepared.entry.path))
        except BaseException:
            self.summary = counted  # the group was rolled back: report only what was committed
            raise
        if self.progress:
            self.progress.advance(len(group), found_faces)

    def _write(self, prepared: Prepared, faces: list[Face] | str | None) -> int:
        """Record one prepared file; returns the number of faces stored."""
        entry = prepared.entry
        if prepared.skipped is not None:
            self._skip(prepared)
            return 0
        if isinstance(faces, str):
            prepared = Prepared(entry, prepared.own, prepared.digest, error=faces)
        if prepared.error is not None:
            self._fail(entry.path, prepared.error, prepared)
            return 0
        if faces is None:  # content already catalogued
            self._known_content(prepared)
            return 0
        image = prepared.analysed
        photo_id = self.catalog.save_photo(
            entry.path,
            size=entry.size,
            mtime_ns=entry.mtime_ns,
            fields={
                "hash": prepared.digest,
                "width": image.full_size[0],
                "height": image.full_size[1],
                "orientation": image.orientation,
                "taken_at": image.taken_at,
                "status": "ok",
                "kind": image.kind,
                "duration": image.duration,
                "live_clip": _clip_to_db(entry),
            },
        )
        self.catalog.replace_faces(photo_id, faces, self.engine.model_id)
        self.known_hashes.add(prepared.digest)
        if image.kind == "photo":  # what XMP face regions are read from
            self.summary.analysed.append(entry.path)
        setattr(self.summary, prepared.kind, getattr(self.summary, prepared.kind) + 1)
        self.summary.faces += len(faces)
        return len(faces)

    def _known_content(self, prepared: Prepared) -> None:
        """Content the catalog has: this file touched, a move, or a duplicate."""
        entry, own = prepared.entry, prepared.own
        if own is not None and own.hash == prepared.digest and own.status == "ok":
            self.catalog.touch_photo(own.id, size=entry.size, mtime_ns=entry.mtime_ns)
            self.catalog.set_live_clip(own.id, entry.live_clip)
            self.summary.unchanged += 1
            return
        matches = [m for m in self.catalog.photos_with_hash(prepared.digest) if m.path != entry.path]
        gone = next((m for m in matches if not os.path.lexists(m.path)), None)
        if gone is not None:
            if own is not None:  # this path held other content before: that row gives way
                self.catalog.remove_photos([own.id])
            self.catalog.move_photo(gone.id, entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
            self.catalog.set_live_clip(gone.id, entry.live_clip)
            self.moved_ids.add(gone.id)
            self.summary.moved += 1
            return
        original = matches[0].id if matches else None
        photo_id = self.catalog.save_photo(
            entry.path,
            size=entry.size,
            mtime_ns=entry.mtime_ns,
            fields={
                "hash": prepared.digest,
                "status": "duplicate",
                "duplicate_of": original,
                "kind": _kind(entry.path),
                "live_clip": _clip_to_db(entry),
            },
        )
        self.catalog.replace_faces(photo_id, [], self.engine.model_id)  # its faces are the original's
        self.summary.duplicates += 1

    def _skip(self, prepared: Prepared) -> None:
        """Not recorded this time: gone since the walk (its row, if any, is removed at the end
        like any missing file's) or still being written (left as catalogued)."""
        if prepared.skipped == "vanished":
            self.vanished.add(prepared.entry.path)
        else:
            self.summary.warnings.append(f"{printable(prepared.entry.path)}: {prepared.skipped}")

    def _fail(self, path: str, reason: str, prepared: Prepared | None = None) -> None:
        """A file that cannot be analysed is recorded with its reason; its old faces are kept."""
        self.summary.failed += 1
        self.summary.failures.append((printable(path), reason))
        if prepared is not None:
            entry = prepared.entry
            self.catalog.save_photo(
                path,
                size=entry.size,
                mtime_ns=entry.mtime_ns,
                fields={"hash": prepared.digest, "status": "failed", "error": reason, "kind": _kind(path)},
            )

    def _remove_missing(
        self, existing: dict[str, PhotoRecord], seen: set[str], empty_roots: list[Path], clips: set[str]
    ) -> None:
        """Photos gone from disk leave the catalog; people and names stay. So does a video found
        to be a Live Photo's clip since it was scanned (its photo holds it now).

        A root where nothing was found (an unmounted drive, say) removes nothing: its photos
        are kept with a warning rather than wiping the names on them.
        """
        gone = [
            record.id
            for path, record in existing.items()
            if record.id not in self.moved_ids
            and (path in clips or (path not in seen and not os.path.lexists(path)))
            and not any(is_under(path, root) for root in empty_roots)
        ]
        for root in empty_roots:
            kept = sum(1 for path in existing if is_under(path, root))
            if kept:
                self.summary.warnings.append(
                    f"{printable(root)} has no photos now; its {kept} catalogued photos are "
                    "kept (reconnect the drive, or delete them from the catalog)"
                )
        with self.catalog.transaction():
            kept_by_copy = {photo for photo in gone if self.catalog.promote_duplicate(photo)}
            self.summary.moved += len(kept_by_copy)
            self.summary.removed = self.catalog.remove_photos(p for p in gone if p not in kept_by_copy)


def _signatures_of(path: str, faces: list[tuple[int, np.ndarray]]) -> list[tuple[int, bytes]]:
    """Each face's signature, cut from the photo as the scan loads it (landmarks are stored in
    full-size pixels, the scan cut it from the loaded size)."""
    try:
        image = load_image(path)
    except ImageLoadError:
        return [(face_id, signature.EMPTY) for face_id, _ in faces]
    return [(face_id, signature.signature(image.image, landmarks / image.scale)) for face_id, landmarks in faces]


def _until_video(prepared: Iterator[Prepared], count: int) -> list[Prepared]:
    """The next ``count`` files, or fewer up to a video: one takes as long as many photos, so it
    is analysed and written as soon as its turn comes, not after a whole group's worth."""
    batch: list[Prepared] = []
    for item in prepared:
        batch.append(item)
        if len(batch) == count or is_video_name(item.entry.path):
            break
    return batch


def analyse_prepared(engine: FaceEngine, batch: list[Prepared]) -> list[Prepared]:
    """The faces of the decoded photos of ``batch`` and the face tracks of its videos, each
    returned without its pixels; the others (failed, skipped, known content) as they are. Should
    the engine fail on the batch, each photo is tried alone and one that still fails gets the
    reason instead, so one odd image never ends a scan (here, in a worker process or on a
    cluster's worker)."""
    ready = [p for p in batch if p.image is not None]
    try:
        found = engine.analyze_images([p.image for p in ready]) if ready else []
    except Exception:
        found = [_analyse_alone(engine, p) for p in ready]
    faces = iter(found)
    return [
        _without_pixels(p, next(faces)) if p.image is not None else _analyse_video(engine, p) if p.video else p
        for p in batch
    ]


def _analyse_video(engine: FaceEngine, prepared: Prepared) -> Prepared:
    """A video's face tracks, its frames decoded a few at a time; a bad or stalled file gets its reason."""
    from photoface.media.tracks import analyse_video  # PyAV loads only where a video is analysed

    source = io.BytesIO(prepared.video) if isinstance(prepared.video, bytes) else prepared.video
    try:
        info, tracks = analyse_video(engine, source)
    except ImageLoadError as exc:
        return replace(prepared, video=None, error=exc.reason)
    except PhotofaceError:
        raise  # the engine itself is unusable (a model or device error): not this video's fault
    except Exception as exc:  # files are hostile input: whatever a decoder raises is this file's reason
        return replace(prepared, video=None, error=f"video analysis failed ({type(exc).__name__}: {exc})")
    # Orientation 1: the frames were turned upright by their display matrix, boxes are upright.
    analysed = Analysed(info.size, 1, info.taken_at, tracks, kind="video", duration=info.duration)
    return replace(prepared, video=None, analysed=analysed)


def _analyse_alone(engine: FaceEngine, prepared: Prepared) -> list[Face] | str:
    try:
        return engine.analyze_images([prepared.image])[0]
    except PhotofaceError:
        raise  # the engine itself is unusable (a model or device error): not this photo's fault
    except Exception as exc:
        return f"face analysis failed ({type(exc).__name__}: {exc})"


def _without_pixels(prepared: Prepared, faces: list[Face] | str | None) -> Prepared:
    """A decoded photo once analysed (``faces``; None when its content is known): what the
    catalog stores of it, without the pixels. One not decoded is returned as it is; a video
    whose content is known, without its source."""
    image = prepared.image
    if image is None:
        return replace(prepared, video=None)
    analysed = Analysed(image.full_size, image.orientation, image.taken_at, faces) if faces is not None else None
    return replace(prepared, image=None, analysed=analysed)


def prepare_file(
    walked: FileEntry,
    own: PhotoRecord | None,
    max_side: int | None,
    *,
    known: set[str] | frozenset[str] = frozenset(),
    rescan: bool = False,
    data: bytes | None = None,
) -> Prepared:
    """Read a file once (or take ``data``, its bytes sent from elsewhere), hash it, and decode it
    unless its content is ``known``: a new or changed photo, ready for the engine. A video is
    not decoded here: the engine's side reads it (from ``data``, else from its path)."""
    sent = data
    if data is not None:
        entry, digest = walked, content_hasher(data).hexdigest()
    else:
        try:
            entry, data, digest = read_file(walked)
        except FileNotFoundError:
            return Prepared(walked, own, skipped="vanished")
        except FileChangingError as exc:
            return Prepared(walked, own, skipped=str(exc))
        except OSError as exc:
            reason = (
                "permission denied: check the file's read permission"
                if isinstance(exc, PermissionError)
                else f"cannot read file ({exc.strerror or exc})"
            )
            return Prepared(walked, own, error=reason)
    reanalyse = rescan and own is not None and own.hash == digest
    if digest in known and not reanalyse:
        return Prepared(entry, own, digest)
    if is_video_name(entry.path):
        return Prepared(entry, own, digest, video=sent if sent is not None else entry.path, reanalyse=reanalyse)
    try:
        image = load_image(entry.path, max_side, data)
    except ImageLoadError as exc:
        return Prepared(entry, own, digest, error=exc.reason)
    return Prepared(entry, own, digest, image=image, reanalyse=reanalyse)


def _kind(path: str) -> str:
    """What ``photos.kind`` says of a file not analysed this time (a failed one, a copy)."""
    return "video" if is_video_name(path) else "photo"


def _clip_to_db(entry: FileEntry) -> str | bytes | None:
    return path_to_db(entry.live_clip) if entry.live_clip is not None else None


def _refresh_face_index(catalog: Catalog) -> None:
    """Bring the face index, where one exists, up to date with the faces this scan added and
    removed (a first scan builds none: the first ``cluster`` does). It is a cache: a failure
    here is a warning, and the next user of the index catches up from the catalog's log."""
    from photoface.index import FaceIndex  # usearch loads only where an index exists

    if not FaceIndex.paths(catalog)[0].exists():
        return
    try:
        FaceIndex.open(catalog)
    except (PhotofaceError, OSError, RuntimeError) as exc:
        log.warning("face index not updated (%s): the next 'photoface cluster' does it", exc)


class FileChangingError(Exception):
    """The file changed while it was read, or since the walk and just now: still being written."""


# Files up to this size are read once into memory, hashed and decoded from the same bytes;
# larger ones (huge TIFFs, a video named .jpg) are hashed in chunks and decoded from disk,
# so no file costs more memory than its pixels.
WHOLE_READ_LIMIT = 64 * 2**20
RECENT_NS = 10 * 10**9  # a file modified this recently and changed since the walk is being written


def content_hasher(data: bytes = b"") -> hashlib.blake2b:
    """The hash that names a photo's content in the catalog (``photos.hash``), wherever it is read."""
    return hashlib.blake2b(data, digest_size=16)


def read_file(walked: FileEntry) -> tuple[FileEntry, bytes | None, str]:
    """Read and hash a file as it is now: (its entry as read, its bytes if small, its digest).

    A file truncated or replaced since the walk is taken as it is now. One that changes while
    it is read, or that changed since the walk and was modified in the last seconds, is still
    being written (a copy in progress): ``FileChangingError``, so it is not catalogued half-written.
    """
    with open(walked.path, "rb") as handle:
        before = os.fstat(handle.fileno())
        hasher = content_hasher()
        data = None
        if before.st_size <= WHOLE_READ_LIMIT:
            data = handle.read()
            hasher.update(data)
        else:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        after = os.fstat(handle.fileno())
    entry = replace(walked, size=after.st_size, mtime_ns=after.st_mtime_ns)
    changed_while_read = (before.st_size, before.st_mtime_ns) != (entry.size, entry.mtime_ns)
    changed_since_walk = (walked.size, walked.mtime_ns) != (entry.size, entry.mtime_ns)
    if changed_while_read or (changed_since_walk and time.time_ns() - entry.mtime_ns < RECENT_NS):
        raise FileChangingError("still being written (it changed while scanned): left for the next scan")
    if data is not None and len(data) != entry.size:  # changed without touching size or mtime
        raise FileChangingError("its size changed while it was read: left for the next scan")
    return entry, data, hasher.hexdigest()


def task_batches(
    todo: list[tuple[FileEntry, PhotoRecord | None]], count: int, max_bytes: int | None = None
) -> Iterator[list[tuple[FileEntry, PhotoRecord | None]]]:
    """The work of remote analysis (``photoface.processes``, ``photoface.distributed``) in tasks:
    up to ``count`` photos of ``max_bytes`` at most together; a video alone (its analysis takes
    as long as many photos', so no worker waits on another's long task)."""
    batch: list[tuple[FileEntry, PhotoRecord | None]] = []
    size = 0
    for item in todo:
        video = is_video_name(item[0].path)
        full = len(batch) == count or (max_bytes is not None and size + item[0].size > max_bytes)
        if batch and (video or full):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item[0].size
        if video:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _bounded_map(pool: ThreadPoolExecutor, fn, items: list, ahead: int) -> Iterator:
    """``pool.map`` in order, but with at most ``ahead`` results in flight (bounded memory)."""
    pending: list[Future] = []
    iterator = iter(items)
    for item in islice(iterator, ahead):
        pending.append(pool.submit(fn, item))
    while pending:
        future = pending.pop(0)
        result = future.result()
        next_item = next(iterator, None)
        if next_item is not None:
            pending.append(pool.submit(fn, next_item))
        yield result


def scan(
    catalog: Catalog,
    roots: Sequence[Path],
    engine: FaceEngine,
    options: ScanOptions | None = None,
    progress: ScanProgress | None = None,
    *,
    remote: RemoteAnalysis | None = None,
) -> ScanSummary:
    """Scan ``roots`` into ``catalog``; see the module docstring for what happens to each file."""
    return Scanner(catalog, engine, options, progress, remote=remote).run(roots)
