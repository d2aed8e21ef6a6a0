"""People at library scale: clustering time, memory and quality from 10k to 1M faces, and the
incremental loop.

Faces: LFW's (the face nearest each photo's centre: 13,231 faces of 5,748 people), then more
populations made from them by a seeded random orthogonal rotation of all embeddings: each has
LFW's inner structure, and its people are unrelated to the originals. Populations are stacked
to N faces; the truth is (population, folder), scored with BCubed F. Each size runs in a fresh
process (its own peak RSS, VmHWM): build the face index (usearch HNSW, as the catalog's), find
every face's neighbours, plan (HDBSCAN on the graph, the absolute refinement, the rules).

The incremental loop runs through the real ``photoface.people.cluster`` on a real catalog: N
faces inserted into SQLite, ``cluster --full``, then 1% more faces and ``cluster`` (which
places only the new ones); then ``find`` is timed on it.

    python -m benchmarks.cluster_scale --db lfw.db [--sizes 10000 100000 1000000] [--incremental 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.clustering import main_faces, scores
from benchmarks.common import peak_rss_mb, write_result
from photoface.catalog import Catalog
from photoface.clustering import NO_PERSON, ClusterSettings, Decisions, Faces, plan
from photoface.engine import signature
from photoface.index import FaceIndex
from photoface.people import face_graph


def populations(embeddings: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` faces: LFW, then rotated copies of it (seeded), and their (population, person) labels."""
    parts, truth = [], []
    population = 0
    while sum(len(p) for p in parts) < size:
        if population == 0:
            rotated = embeddings
        else:
            q, r = np.linalg.qr(np.random.default_rng(population).normal(size=(128, 128)))
            rotated = embeddings @ (q * np.sign(np.diag(r))).astype(np.float32)
        parts.append(rotated.astype(np.float32))
        truth.append(population * (labels.max() + 1) + labels)
        population += 1
    return np.vstack(parts)[:size], np.concatenate(truth)[:size]


def fresh_faces(vectors: np.ndarray) -> Faces:
    """One face per vector, nobody assigned, as a scan leaves them; each with a signature of
    its own (random cells: unrelated shots), so the near-copy test runs on every edge as in a
    real catalog."""
    count = len(vectors)
    cells = len(signature.EMPTY)
    return Faces(
        ids=np.arange(count),
        photos=np.arange(count),
        embeddings=vectors,
        sizes=np.full(count, 100.0),
        persons=np.full(count, NO_PERSON),
        fixed=np.zeros(count, bool),
        signatures=np.random.default_rng(0).integers(1, 256, (count, cells), dtype=np.uint8),
    )


def cluster_child(base: Path, size: int) -> dict:
    """One size, in this (fresh) process: stage times, peak memory and quality."""
    data = np.load(base)
    vectors, truth = populations(data["embeddings"], data["labels"], size)
    faces = fresh_faces(vectors)
    started = time.perf_counter()
    index = FaceIndex.in_memory(faces.ids, vectors)
    indexed = time.perf_counter()
    graph = face_graph(index, faces)
    graphed = time.perf_counter()
    outcome = plan(faces, graph, Decisions(), ClusterSettings())
    planned = time.perf_counter()
    return {
        "faces": size,
        "people": len(np.unique(truth)),
        "index_seconds": indexed - started,
        "graph_seconds": graphed - indexed,
        "plan_seconds": planned - graphed,
        "seconds": planned - started,
        "peak_rss_mb": peak_rss_mb(),
        "clusters": outcome.clusters,
        "unassigned": int((outcome.persons == NO_PERSON).sum()),
        **scores(outcome.persons, truth),
    }


def fill_catalog(catalog: Catalog, vectors: np.ndarray, first: int) -> None:
    """One photo and one face per vector, ids from ``first``, nobody assigned (as after a scan)."""
    with catalog.transaction():
        catalog.db["photos"].insert_all(
            (
                {
                    "id": first + i,
                    "path": f"/photos/{(first + i) // 1000:04d}/{first + i:07d}.jpg",
                    "size": 1,
                    "mtime_ns": i,
                    "hash": f"{first + i:032x}",
                    "status": "ok",
                    "scanned_at": "x",
                }
                for i in range(len(vectors))
            ),
            batch_size=5000,
        )
        catalog.db["faces"].insert_all(
            (
                {
                    "photo_id": first + i,
                    "x": 0.0,
                    "y": 0.0,
                    "w": 100.0,
                    "h": 100.0,
                    "score": 0.99,
                    "size": 100.0,
                    "landmarks": b"",
                    "embedding": vector.tobytes(),
                    "model": "m",
                }
                for i, vector in enumerate(vectors)
            ),
            batch_size=5000,
        )


def incremental_child(base: Path, size: int, folder: Path) -> dict:
    """A real catalog of ``size`` faces: cluster --full, then 1% new faces and an incremental
    cluster; then every person named (what the answers teach is learned from them: the most
    work ``photoface.learned`` can have) and 1% more new faces, clustered again."""
    from photoface import people

    data = np.load(base)
    step = size // 100
    vectors, _ = populations(data["embeddings"], data["labels"], size + 2 * step)
    with Catalog.open(folder / "incremental.db") as catalog:
        fill_catalog(catalog, vectors[:size], 1)
        started = time.perf_counter()
        full = people.cluster(catalog, full=True)
        full_seconds = time.perf_counter() - started
        fill_catalog(catalog, vectors[size : size + step], size + 1)
        started = time.perf_counter()
        incremental = people.cluster(catalog)
        incremental_seconds = time.perf_counter() - started
        with catalog.transaction():  # every person named and confirmed, as name_person leaves them
            for row in catalog.people():
                catalog.update_person(row["id"], {"name": f"Person {row['id']}"})
                catalog.confirm_person(row["id"])
        named = len(catalog.names())
        fill_catalog(catalog, vectors[size + step :], size + step + 1)
        started = time.perf_counter()
        people.cluster(catalog)
        named_seconds = time.perf_counter() - started
        people.name_person(catalog, catalog.people()[0]["id"], "Largest Person")
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            found = people.find_photos(catalog, ["Largest Person"])
            timings.append(time.perf_counter() - started)
    return {
        "faces": size,
        "new_faces": size // 100,
        "full_seconds": full_seconds,
        "full_mode": full.mode,
        "incremental_seconds": incremental_seconds,
        "incremental_mode": incremental.mode,
        "ratio": incremental_seconds / full_seconds,
        "named_people": named,
        "incremental_named_seconds": named_seconds,
        "ratio_named": named_seconds / full_seconds,
        "find_ms_median": 1000 * statistics.median(timings),
        "find_photos": len(found),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(*args: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.cluster_scale", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        raise SystemExit(f"child {args} failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="a scanned LFW catalog (benchmarks.scan_speed --keep)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 13_231, 100_000, 1_000_000])
    parser.add_argument("--incremental", type=int, default=100_000, help="faces in the incremental-loop catalog")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, base, value = args.child
        if kind == "size":
            result = cluster_child(Path(base), int(value))
        else:
            result = incremental_child(Path(base), int(value), Path(base).parent)
        print(json.dumps(result))
        return 0
    if args.db is None:
        parser.error("--db is required")
    console = Console(width=160)
    faces, labels = main_faces(args.db, None)
    with tempfile.TemporaryDirectory(prefix="photoface-scale-") as tmp:
        base = Path(tmp) / "lfw.npz"
        np.savez(base, embeddings=faces.embeddings, labels=np.unique(labels, return_inverse=True)[1])
        runs = []
        for size in args.sizes:
            runs.append(run_child("size", str(base), str(size)))
            run = runs[-1]
            console.print(
                f"{size:,} faces: {run['seconds']:.1f} s, {run['peak_rss_mb']:.0f} MB, F {run['bcubed_f']:.3f}"
            )
        loop = run_child("incremental", str(base), str(args.incremental)) if args.incremental else None
    table = Table(title="clustering at scale: LFW populations (rotated copies), one process per size, 2 cores")
    for column in ("faces", "people", "index s", "graph s", "plan s", "total s", "peak RSS", "BCubed P/R/F"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            f"{run['faces']:,}",
            f"{run['people']:,}",
            f"{run['index_seconds']:.1f}",
            f"{run['graph_seconds']:.1f}",
            f"{run['plan_seconds']:.1f}",
            f"{run['seconds']:.1f}",
            f"{run['peak_rss_mb']:.0f} MB",
            f"{run['bcubed_precision']:.3f}/{run['bcubed_recall']:.3f}/{run['bcubed_f']:.3f}",
        )
    console.print(table)
    if loop:
        console.print(
            f"incremental loop, real catalog of {loop['faces']:,} faces: cluster --full {loop['full_seconds']:.1f} s; "
            f"+{loop['new_faces']:,} faces, cluster ({loop['incremental_mode']}) {loop['incremental_seconds']:.1f} s "
            f"= {loop['ratio']:.2f} of full; all {loop['named_people']:,} people named, +{loop['new_faces']:,} "
            f"faces, cluster {loop['incremental_named_seconds']:.1f} s = {loop['ratio_named']:.2f} of full; "
            f"find {loop['find_ms_median']:.1f} ms; peak {loop['peak_rss_mb']:.0f} MB"
        )
    console.print(f"wrote {write_result('cluster_scale', {'runs': runs, 'incremental': loop})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
