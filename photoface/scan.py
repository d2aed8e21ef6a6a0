"""The scan service: crawler -> engine -> catalog.

A photo's way, top to bottom:

1. ``walk`` lists the image files; one ``stat`` each. Same size and mtime as catalogued:
   unchanged, nothing more is read.
2. Decoding threads read each new or changed file once, hash it (BLAKE2b) and, unless the
   content is already catalogued, decode it (Pillow releases the GIL while decoding).
3. Known content is a move (the old path is gone from disk: the photo keeps its id, faces
   and names), a duplicate (recorded, not analysed) or a touched file.
4. New content goes through the engine in batches (faces of several photos embedded
   together), then every photo of a group is written in one transaction.
5. After a complete walk, catalogued photos whose files are gone are removed with their
   faces (people and names stay), unless an exact copy survives: it takes the original's
   place, faces and names included.

Ctrl-C or kill -9 lose at most the group in flight: the next scan finds the committed photos
unchanged and carries on.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol

from photoface.catalog import Catalog, PhotoRecord, is_under, printable
from photoface.crawler import FileEntry, WalkError, walk
from photoface.engine import Face, FaceEngine
from photoface.errors import CatalogError, ImageLoadError
from photoface.imageio import LoadedImage, load_image


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
    interrupted: bool = False
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in ("new", "changed", "unchanged", "moved", "removed", "failed", "duplicates", "faces")
        }


class ScanProgress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, photos: int, faces: int) -> None: ...


class ScanInterrupted(Exception):  # noqa: N818 - it is a signal, not an error
    """Ctrl-C during a scan; carries what was committed."""

    def __init__(self, summary: ScanSummary) -> None:
        super().__init__("scan interrupted")
        self.summary = summary


@dataclass(frozen=True)
class Prepared:
    """A new or changed file after the decoding thread: hash, and image or error."""

    entry: FileEntry
    own: PhotoRecord | None  # the catalog's row for this path, if any
    digest: str | None = None
    image: LoadedImage | None = None
    error: str | None = None
    reanalyse: bool = False  # --rescan of content the catalog already holds for this path

    @property
    def kind(self) -> str:
        return "changed" if self.own else "new"


@contextmanager
def scan_lock(db_path: Path) -> Iterator[None]:
    """One scan per catalog at a time; a second gets a clear error instead of waiting."""
    lock_path = db_path.with_name(db_path.name + ".scan-lock")
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise CatalogError(f"another scan (pid {holder}) is running on {db_path}: wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


class Scanner:
    """One scan of some folders into a catalog."""

    def __init__(
        self,
        catalog: Catalog,
        engine: FaceEngine,
        options: ScanOptions | None = None,
        progress: ScanProgress | None = None,
    ) -> None:
        self.catalog, self.engine = catalog, engine
        self.options = options or ScanOptions()
        self.progress = progress
        self.summary = ScanSummary()
        self.known_hashes: set[str] = set()
        self.moved_ids: set[int] = set()

    def run(self, roots: Sequence[Path]) -> ScanSummary:
        started = time.perf_counter()
        roots = [Path(os.path.abspath(root)) for root in roots]
        with scan_lock(self.catalog.path):
            scan_id = self.catalog.start_scan(roots, self.engine.provider, self.engine.model_id)
            try:
                self._scan(roots)
            except KeyboardInterrupt:
                self.summary.interrupted = True
                self.summary.seconds = time.perf_counter() - started
                self.catalog.finish_scan(scan_id, "interrupted", self.summary.counts())
                raise ScanInterrupted(self.summary) from None
            except BaseException:
                self.catalog.finish_scan(scan_id, "failed", self.summary.counts())
                raise
            self.summary.seconds = time.perf_counter() - started
            self.catalog.finish_scan(scan_id, "finished", self.summary.counts())
        return self.summary

    def _scan(self, roots: list[Path]) -> None:
        existing = self.catalog.photos_under(roots)
        seen: set[str] = set()
        found_per_root = dict.fromkeys(roots, 0)
        todo: list[tuple[FileEntry, PhotoRecord | None]] = []
        for item in walk(roots, include_hidden=self.options.include_hidden):
            if isinstance(item, WalkError):
                self._fail(item.path, item.reason)
                continue
            seen.add(item.path)
            for root in roots:
                if is_under(item.path, root):
                    found_per_root[root] += 1
            record = existing.get(item.path)
            if record and not self.options.rescan and (record.size, record.mtime_ns) == (item.size, item.mtime_ns):
                self.summary.unchanged += 1
            else:
                todo.append((item, record))
        if self.progress:
            self.progress.start(len(todo))
        self.known_hashes = self.catalog.known_hashes()
        self._process(todo)
        self._remove_missing(existing, seen, [root for root, count in found_per_root.items() if count == 0])

    # ----------------------------------------------------------------- stages
    def _process(self, todo: list[tuple[FileEntry, PhotoRecord | None]]) -> None:
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="decode") as pool:
            prepared = _bounded_map(pool, self._prepare, todo, ahead=self.options.group_size)
            try:
                while group := list(islice(prepared, self.options.group_size)):
                    self._commit_group(group)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _prepare(self, item: tuple[FileEntry, PhotoRecord | None]) -> Prepared:
        """Runs in a decoding thread: read once, hash, decode unless the content is known."""
        entry, own = item
        try:
            with open(entry.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            reason = (
                "permission denied: check the file's read permission"
                if isinstance(exc, PermissionError)
                else f"cannot read file ({exc.strerror or exc})"
            )
            return Prepared(entry, own, error=reason)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        reanalyse = self.options.rescan and own is not None and own.hash == digest
        if digest in self.known_hashes and not reanalyse:
            return Prepared(entry, own, digest)
        try:
            image = load_image(entry.path, self.engine.max_side, data)
        except ImageLoadError as exc:
            return Prepared(entry, own, digest, error=exc.reason)
        return Prepared(entry, own, digest, image=image, reanalyse=reanalyse)

    def _commit_group(self, group: list[Prepared]) -> None:
        to_analyse, digests = [], set()
        for prepared in group:
            # Identical files: only the first is analysed (the content may also have been
            # stored by an earlier group since this one was decoded).
            known = prepared.digest in digests or (prepared.digest in self.known_hashes and not prepared.reanalyse)
            if prepared.image is not None and not known:
                to_analyse.append(prepared)
                digests.add(prepared.digest)
        faces: dict[str, list[Face]] = {}
        for start in range(0, len(to_analyse), self.options.batch_photos):
            batch = to_analyse[start : start + self.options.batch_photos]
            for prepared, found in zip(batch, self.engine.analyze_images([p.image for p in batch]), strict=True):
                faces[prepared.entry.path] = found
        found_faces = 0
        with self.catalog.transaction():
            for prepared in group:
                found_faces += self._write(prepared, faces.get(prepared.entry.path))
        if self.progress:
            self.progress.advance(len(group), found_faces)

    def _write(self, prepared: Prepared, faces: list[Face] | None) -> int:
        """Record one prepared file; returns the number of faces stored."""
        entry = prepared.entry
        if prepared.error is not None:
            self._fail(entry.path, prepared.error, prepared)
            return 0
        if faces is None:  # content already catalogued
            self._known_content(prepared)
            return 0
        image = prepared.image
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
            },
        )
        self.catalog.replace_faces(photo_id, faces, self.engine.model_id)
        self.known_hashes.add(prepared.digest)
        setattr(self.summary, prepared.kind, getattr(self.summary, prepared.kind) + 1)
        self.summary.faces += len(faces)
        return len(faces)

    def _known_content(self, prepared: Prepared) -> None:
        """Content the catalog has: this file touched, a move, or a duplicate."""
        entry, own = prepared.entry, prepared.own
        if own is not None and own.hash == prepared.digest and own.status == "ok":
            self.catalog.touch_photo(own.id, size=entry.size, mtime_ns=entry.mtime_ns)
            self.summary.unchanged += 1
            return
        matches = [m for m in self.catalog.photos_with_hash(prepared.digest) if m.path != entry.path]
        gone = next((m for m in matches if not os.path.lexists(m.path)), None)
        if gone is not None:
            if own is not None:  # this path held other content before: that row gives way
                self.catalog.remove_photos([own.id])
            self.catalog.move_photo(gone.id, entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
            self.moved_ids.add(gone.id)
            self.summary.moved += 1
            return
        original = matches[0].id if matches else None
        photo_id = self.catalog.save_photo(
            entry.path,
            size=entry.size,
            mtime_ns=entry.mtime_ns,
            fields={"hash": prepared.digest, "status": "duplicate", "duplicate_of": original},
        )
        self.catalog.replace_faces(photo_id, [], self.engine.model_id)  # its faces are the original's
        self.summary.duplicates += 1

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
                fields={"hash": prepared.digest, "status": "failed", "error": reason},
            )

    def _remove_missing(self, existing: dict[str, PhotoRecord], seen: set[str], empty_roots: list[Path]) -> None:
        """Photos gone from disk leave the catalog; people and names stay.

        A root where nothing was found (an unmounted drive, say) removes nothing: its photos
        are kept with a warning rather than wiping the names on them.
        """
        gone = [
            record.id
            for path, record in existing.items()
            if path not in seen
            and record.id not in self.moved_ids
            and not os.path.lexists(path)
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
) -> ScanSummary:
    """Scan ``roots`` into ``catalog``; see the module docstring for what happens to each file."""
    return Scanner(catalog, engine, options, progress).run(roots)
