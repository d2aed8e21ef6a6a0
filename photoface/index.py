"""The face vector index: every face embedding in a usearch HNSW index beside the catalog.

The catalog is the truth; the index is a cache that is never trusted blindly. It lives in two
files beside the catalog, ``<catalog>.faces.usearch`` and ``<catalog>.faces.json`` (what it was
built from: the catalog's id, the last face change it holds, the face count). Every face
insert, delete or new embedding is logged by triggers in the catalog (``face_log``), so
opening the index applies just the changes since it was saved. An index that is missing,
damaged, from another catalog, older than the log kept, or whose face count disagrees with the
catalog after the changes is rebuilt from the catalog.

This is the only module that imports usearch.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from photoface.catalog import Catalog, describe_write_fault
from photoface.errors import CatalogError

log = logging.getLogger(__name__)

FORMAT = 1
DIMENSIONS = 128
# Below this many faces, neighbours are found exactly (brute force, deterministic, a second
# or less); above, through the HNSW graph (recall about 0.97-0.99 at the settings below).
EXACT_LIMIT = 20_000
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 96
NO_FACE = -1


class FaceIndex:
    """Search faces by embedding; open with ``FaceIndex.open(catalog)``."""

    def __init__(self, catalog: Catalog | None, index, seq: int) -> None:
        self.catalog = catalog
        self._index = index
        self.seq = seq  # the last face_log entry the index holds

    # ------------------------------------------------------------------ files
    @staticmethod
    def paths(catalog: Catalog) -> tuple[Path, Path]:
        base = catalog.path.with_name(catalog.path.name + ".faces")
        return base.with_suffix(base.suffix + ".usearch"), base.with_suffix(base.suffix + ".json")

    @classmethod
    def open(cls, catalog: Catalog) -> FaceIndex:
        """The index, loaded and brought up to date with the catalog, or rebuilt from it."""
        with _locked(catalog):
            index = cls._load(catalog)
            if index is not None:
                index.sync()
                if len(index) == catalog.face_count():
                    return index
                log.info("face index disagrees with the catalog after its changes: rebuilding")
            index = cls.build(catalog)
            index.save()
            return index

    @classmethod
    def _load(cls, catalog: Catalog) -> FaceIndex | None:
        Index = _usearch_index()  # noqa: N806 - the class, named as usearch names it

        index_path, meta_path = cls.paths(catalog)
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != FORMAT or meta.get("catalog") != catalog.uid():
                log.info("face index %s belongs to another catalog or version: rebuilding", index_path)
                return None
            if int(meta["seq"]) < catalog.face_log_pruned_through():
                log.info("face index %s is older than the change log kept: rebuilding", index_path)
                return None
            usearch_index = Index.restore(str(index_path), view=False)
            if usearch_index is None or usearch_index.ndim != DIMENSIONS:
                return None
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged file: usearch and json raise their own errors
            log.info("face index %s cannot be read (%s): rebuilding", index_path, exc)
            return None
        return cls(catalog, usearch_index, int(meta["seq"]))

    @classmethod
    def in_memory(cls, ids: np.ndarray, vectors: np.ndarray) -> FaceIndex:
        """An index of these vectors alone, tied to no catalog (benchmarks, experiments)."""
        index = cls(None, _new_index(), 0)
        index.add(ids, vectors)
        return index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add faces (ids, unit vectors); a catalog's index is fed from the catalog by ``build``
        and ``sync``, so only an in-memory index is fed from outside."""
        self._index.add(np.asarray(ids, np.int64), np.asarray(vectors, np.float32), threads=_threads())

    @classmethod
    def build(cls, catalog: Catalog) -> FaceIndex:
        """A new index of every face in the catalog."""
        with catalog.snapshot():  # faces and the log position of one state
            seq = catalog.face_log_position()
            index = cls(catalog, _new_index(), seq)
            for ids, vectors in catalog.embeddings_in_chunks():
                index.add(ids, vectors)
        log.info("face index built: %d faces", len(index))
        return index

    def save(self) -> None:
        """Write the index and what it holds, atomically; then drop the log it no longer needs.

        The index is a cache: when it cannot be written (a full disk, a read-only folder) the
        work goes on with the index in memory, and the log stays for the next try.
        """
        if self.catalog.read_only:
            return  # on a read-only drive the index lives in memory for this command
        index_path, meta_path = self.paths(self.catalog)
        try:
            for path, write in (
                (index_path, lambda p: self._index.save(str(p))),
                (meta_path, lambda p: p.write_text(json.dumps(self._meta()))),
            ):
                temporary = path.with_name(path.name + ".tmp")
                write(temporary)
                os.replace(temporary, path)
        except (OSError, RuntimeError) as exc:  # usearch reports write failures as RuntimeError
            log.warning("face index not saved (%s): it is rebuilt or brought up to date next time", exc)
            return
        self.catalog.prune_face_log(self.seq)

    def _meta(self) -> dict:
        return {"format": FORMAT, "catalog": self.catalog.uid(), "seq": self.seq, "faces": len(self)}

    def sync(self) -> None:
        """Apply the catalog's face changes since the index was saved, and save it."""
        with self.catalog.snapshot():
            changes, seq = self.catalog.face_changes_since(self.seq)
            if not changes:
                return
            for face in changes:
                if face in self._index:
                    self._index.remove(face)
            present = [face for face, added in changes.items() if added]
            for ids, vectors in self.catalog.embeddings_in_chunks(present):
                self.add(ids, vectors)
        self.seq = seq
        log.info("face index: %d changes applied", len(changes))
        self.save()

    def __len__(self) -> int:
        return len(self._index)

    # ----------------------------------------------------------------- search
    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest faces of each vector: face ids (``NO_FACE`` where fewer exist) and
        squared Euclidean distances of the unit vectors (0..4), nearest first."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        k = max(1, min(k, len(self)))
        if not len(self) or not len(vectors):
            return np.full((len(vectors), k), NO_FACE, np.int64), np.full((len(vectors), k), np.inf, np.float32)
        found = self._index.search(vectors, k, exact=len(self) <= EXACT_LIMIT, threads=_threads())
        # One query gives Matches (1-D, only what was found), several give BatchMatches (2-D).
        counts = np.asarray(getattr(found, "counts", [len(found.keys)])).reshape(-1)
        keys = np.full((len(vectors), k), NO_FACE, np.int64)
        squared = np.full((len(vectors), k), np.inf, np.float32)
        width = np.asarray(found.keys).reshape(len(vectors), -1).shape[1]
        keys[:, :width] = np.asarray(found.keys, np.int64).reshape(len(vectors), -1)
        # usearch's cosine distance is 1 - cos; on unit vectors the squared Euclidean is twice it.
        squared[:, :width] = 2 * np.asarray(found.distances, np.float32).reshape(len(vectors), -1)
        missing = np.arange(k)[None, :] >= counts[:, None]
        keys[missing] = NO_FACE
        squared[missing] = np.inf
        return keys, np.clip(squared, 0, 4)


def _usearch_index() -> type:
    """usearch's Index class, loaded so that onnxruntime can still load after it.

    usearch's extension carries its own static copy of libstdc++; when it loads first, the
    system's libstdc++ that onnxruntime needs then crashes in its locale set-up (SIGSEGV in
    ``std::codecvt`` while ``import onnxruntime`` runs: usearch 2.26 with onnxruntime 1.32).
    A process that searches the index and then runs a model (a scan importing regions, the
    tests, ``identify`` after ``cluster`` in one Python session) died. Loading the system
    libstdc++ globally first makes both use it. Linux only; elsewhere nothing to do.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    from usearch.index import Index

    return Index


def _new_index():
    Index = _usearch_index()  # noqa: N806

    return Index(
        ndim=DIMENSIONS,
        metric="cos",
        dtype="f16",  # half the memory of f32; FaceNet's unit vectors lose nothing that matters
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def _threads() -> int:
    return os.cpu_count() or 1


@contextlib.contextmanager
def _locked(catalog: Catalog) -> Iterator[None]:
    """One process at a time reads, updates or rebuilds the index files."""
    lock_path = catalog.path.with_name(catalog.path.name + ".faces.lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the block
    except OSError as exc:
        if catalog.read_only:  # nobody can write index files beside it: nothing to lock against
            yield
            return
        raise CatalogError(describe_write_fault(catalog.path, exc, "use the face index beside")) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
