"""How clustering and ``find`` scale: time and peak memory at 10k, 50k and 100k faces.

The faces are LFW's real embeddings (largest face per photo, from a scanned catalog) plus
jittered copies: each copy is an embedding plus Gaussian noise of the size of the spread
between photos of one person, renormalised, so a 100k-face library has the shape of a real
one. Each size is clustered in a fresh process (its own peak RSS). Then a 100k-face catalog
is built and ``find`` timed on it.

Measured here: 10k faces 21 s, 50k faces 501 s (HDBSCAN in 128 dimensions is far from
linear), so 100k is not in the default sizes; ask for it with --sizes.

    python -m benchmarks.cluster_scale --db lfw.db [--sizes 10000 50000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.clustering import largest_faces
from benchmarks.common import write_result
from photoface.catalog import Catalog
from photoface.clustering import NO_PERSON, ClusterSettings, Faces, plan

JITTER = 0.03  # per dimension, before renormalising: copies sit about 0.23 apart (squared)


def synthetic(embeddings: np.ndarray, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` faces: the real ones, then jittered copies; and the index of each one's source."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([np.arange(len(embeddings)), rng.integers(0, len(embeddings), size)])[:size]
    faces = embeddings[picks].astype(np.float32)
    faces[len(embeddings) :] += rng.normal(scale=JITTER, size=faces[len(embeddings) :].shape).astype(np.float32)
    return faces / np.linalg.norm(faces, axis=1, keepdims=True), picks


def cluster_once(vectors_file: Path) -> None:
    """Child process: cluster the saved vectors, print seconds, peak RSS and counts as JSON."""
    import resource

    vectors = np.load(vectors_file)
    count = len(vectors)
    faces = Faces(
        np.arange(count),
        np.arange(count),
        vectors,
        np.full(count, 100.0),
        np.full(count, NO_PERSON),
        np.zeros(count, bool),
    )
    started = time.perf_counter()
    outcome = plan(faces, set(), set(), ClusterSettings())
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "faces": count,
                "seconds": seconds,
                "clusters": outcome.clusters,
                "unassigned": int((outcome.persons == NO_PERSON).sum()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def find_latency(vectors: np.ndarray, sources: np.ndarray, labels: np.ndarray, folder: Path) -> dict:
    """A catalog of ``len(vectors)`` faces, one a photo, each assigned to its true person
    (``find`` is SQL: clustering first would only cost time); ``find`` timed on it."""
    from photoface import people

    person_of = np.unique(labels, return_inverse=True)[1][sources] + 1
    with Catalog.open(folder / "scale.db") as catalog:
        with catalog.transaction():
            catalog.db["photos"].insert_all(
                (
                    {
                        "id": i + 1,
                        "path": f"/photos/{i // 1000:03d}/{i:06d}.jpg",
                        "size": 1,
                        "mtime_ns": i,
                        "hash": f"{i:032x}",
                        "status": "ok",
                        "scanned_at": "x",
                    }
                    for i in range(len(vectors))
                ),
                batch_size=5000,
            )
            catalog.db["people"].insert_all(
                ({"id": int(p), "created_at": "x"} for p in np.unique(person_of)), batch_size=5000
            )
            catalog.db["faces"].insert_all(
                (
                    {
                        "photo_id": i + 1,
                        "x": 0.0,
                        "y": 0.0,
                        "w": 100.0,
                        "h": 100.0,
                        "score": 0.99,
                        "size": 100.0,
                        "landmarks": b"",
                        "embedding": vector.tobytes(),
                        "model": "m",
                        "person_id": int(person_of[i]),
                        "assigned": "auto",
                    }
                    for i, vector in enumerate(vectors)
                ),
                batch_size=5000,
            )
        people.name_person(catalog, catalog.people()[0]["id"], "Largest Person")
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            found = people.find_photos(catalog, ["Largest Person"])
            timings.append(time.perf_counter() - started)
    return {"faces": len(vectors), "photos_found": len(found), "find_ms_median": 1000 * statistics.median(timings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="a scanned LFW catalog (benchmarks.scan_speed --keep)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--find-faces", type=int, default=100_000, help="faces in the catalog find is timed on")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cluster_once(args.child)
        return 0
    if args.db is None:
        parser.error("--db is required")
    console = Console()
    base, labels = largest_faces(args.db, None)
    runs = []
    with tempfile.TemporaryDirectory(prefix="photoface-scale-") as tmp:
        for size in args.sizes:
            vectors_file = Path(tmp) / f"{size}.npy"
            np.save(vectors_file, synthetic(base.embeddings, size)[0])
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.cluster_scale", "--child", str(vectors_file)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ},
            )
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            console.print(f"{size} faces: {runs[-1]['seconds']:.1f} s, {runs[-1]['peak_rss_mb']:.0f} MB")
        latency = find_latency(*synthetic(base.embeddings, args.find_faces), labels, Path(tmp))
    table = Table(title="clustering at scale (LFW embeddings + jittered copies), one process per size")
    for column in ("faces", "seconds", "peak RSS", "clusters", "unassigned"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            f"{run['faces']:,}",
            f"{run['seconds']:.1f}",
            f"{run['peak_rss_mb']:.0f} MB",
            f"{run['clusters']:,}",
            f"{run['unassigned']:,}",
        )
    console.print(table)
    console.print(
        f"find on a {latency['faces']:,}-face catalog: {latency['find_ms_median']:.1f} ms median "
        f"({latency['photos_found']} photos)"
    )
    console.print(f"wrote {write_result('cluster_scale', {'jitter': JITTER, 'runs': runs, 'find': latency})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
