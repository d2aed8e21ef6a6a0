"""Which nearest-neighbour library for the face index: usearch against faiss-cpu, same data.

    python -m pip install faiss-cpu   # only for this comparison; photoface needs usearch alone
    python -m benchmarks.index_choice --db lfw.db [--faces 100000]

The faces are LFW populations as in ``benchmarks.cluster_scale``. For each library: building
an index of every face, then every face's 16 nearest neighbours (what clustering asks for),
recall of those neighbours against exact search, the index's size on disk, and whether faces
can be removed (scans delete faces). Prints a table and writes
``benchmarks/results/index_choice.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.cluster_scale import populations
from benchmarks.clustering import main_faces
from benchmarks.common import write_result
from photoface.clustering import K
from photoface.index import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, FaceIndex


def exact(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    result = np.empty((len(queries), K + 1), np.int64)
    for start in range(0, len(queries), 2048):
        similarity = queries[start : start + 2048] @ vectors.T
        nearest = np.argpartition(-similarity, K, axis=1)[:, : K + 1]
        order = np.argsort(-np.take_along_axis(similarity, nearest, 1), axis=1)
        result[start : start + 2048] = np.take_along_axis(nearest, order, 1)
    return result


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]))


def measure_usearch(vectors: np.ndarray, folder: Path) -> dict:
    started = time.perf_counter()
    index = FaceIndex.in_memory(np.arange(len(vectors)), vectors)
    built = time.perf_counter()
    keys, _ = index.search(vectors, K + 1)
    searched = time.perf_counter()
    path = folder / "usearch.index"
    index._index.save(str(path))
    return {
        "library": "usearch HNSW f16 (photoface)",
        "build_s": built - started,
        "search_s": searched - built,
        "neighbours": keys,
        "disk_mb": path.stat().st_size / 2**20,
        "removal": "yes",
    }


def measure_faiss(vectors: np.ndarray, folder: Path, kind: str) -> dict | None:
    try:
        import faiss
    except ImportError:
        return None
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        index = faiss.IndexHNSWFlat(vectors.shape[1], CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EXPANSION_ADD
        index.hnsw.efSearch = EXPANSION_SEARCH
    index.add(vectors)
    built = time.perf_counter()
    _, keys = index.search(vectors, K + 1)
    searched = time.perf_counter()
    path = folder / f"faiss-{kind}.index"
    faiss.write_index(index, str(path))
    return {
        "library": f"faiss-cpu {'exact (IndexFlatIP)' if kind == 'flat' else 'HNSW fp32 (IndexHNSWFlat)'}",
        "build_s": built - started,
        "search_s": searched - built,
        "neighbours": keys,
        "disk_mb": path.stat().st_size / 2**20,
        "removal": "yes (flat)" if kind == "flat" else "no (HNSW cannot remove)",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=100_000)
    args = parser.parse_args()
    faces, labels = main_faces(args.db, None)
    vectors, _ = populations(faces.embeddings, np.unique(labels, return_inverse=True)[1], args.faces)
    vectors = np.ascontiguousarray(vectors)
    sample = np.random.default_rng(0).choice(len(vectors), 5000, replace=False)
    truth = exact(vectors, vectors[sample])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for measure in (
            lambda: measure_usearch(vectors, Path(tmp)),
            lambda: measure_faiss(vectors, Path(tmp), "hnsw"),
            lambda: measure_faiss(vectors, Path(tmp), "flat"),
        ):
            run = measure()
            if run is None:
                continue
            run["recall"] = recall(run.pop("neighbours")[sample], truth)
            runs.append(run)
    table = Table(title=f"face index: {args.faces:,} faces, 128-d, {K} neighbours of every face, 2 cores")
    for column in ("library", "build s", "all-neighbours s", "recall@16", "disk MB", "remove faces"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run["library"],
            f"{run['build_s']:.1f}",
            f"{run['search_s']:.1f}",
            f"{run['recall']:.3f}",
            f"{run['disk_mb']:.0f}",
            run["removal"],
        )
    Console(width=140).print(table)
    print(f"wrote {write_result('index_choice', {'faces': args.faces, 'runs': runs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
