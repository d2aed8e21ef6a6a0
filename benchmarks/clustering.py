"""Clustering quality on a scanned catalog whose folders name the people (LFW, fivecelebs).

Each photo contributes the face nearest its centre, labelled with its folder's name. Faces left
unassigned count as singletons. Reports pairwise and BCubed precision/recall/F, the number
of clusters, the unassigned fraction and the time, for each setting of a grid, so defaults
are chosen by measurement.

    python -m benchmarks.clustering --db lfw.db --people ../shared/data/lfw/peopleDevTrain.txt
    python -m benchmarks.clustering --db fivecelebs.db --grid
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import peak_rss_mb, write_result
from photoface.catalog import Catalog, path_from_db
from photoface.clustering import NO_PERSON, ClusterSettings, Decisions, Faces, Neighbours, exact_neighbours, plan


def main_faces(db: Path, people: set[str] | None) -> tuple[Faces, np.ndarray]:
    """Each photo's face nearest its centre (LFW's protocol: the named person is centred),
    fresh (nobody assigned), and its folder label."""
    with Catalog.open(db, create=False) as catalog:
        rows = catalog.db.execute("""
            SELECT faces.id, photos.path, faces.x + faces.w / 2 - photos.width / 2.0,
                   faces.y + faces.h / 2 - photos.height / 2.0, faces.size, faces.embedding
            FROM faces JOIN photos ON photos.id = faces.photo_id WHERE photos.status = 'ok'""").fetchall()
    best: dict[str, tuple] = {}
    for face_id, stored_path, dx, dy, size, embedding in rows:
        off_centre = dx * dx + dy * dy
        path = path_from_db(stored_path)
        if path not in best or off_centre < best[path][0]:
            best[path] = (off_centre, face_id, size, embedding)
    chosen = sorted(
        (
            (face_id, path, size, embedding)
            for path, (_, face_id, size, embedding) in best.items()
            if people is None or _label(path) in people
        ),
    )
    count = len(chosen)
    faces = Faces(
        ids=np.array([c[0] for c in chosen]),
        photos=np.arange(count),
        embeddings=np.frombuffer(b"".join(c[3] for c in chosen), np.float32).reshape(count, -1),
        sizes=np.array([c[2] for c in chosen], dtype=np.float64),
        persons=np.full(count, NO_PERSON),
        fixed=np.zeros(count, dtype=bool),
    )
    return faces, np.array([_label(c[1]) for c in chosen])


def _label(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pairwise and BCubed precision, recall and F; unassigned items are singletons."""
    predicted = predicted.copy()
    lonely = predicted == NO_PERSON
    # Each its own cluster, numbered past every label (new people are negative placeholders).
    predicted[lonely] = predicted.max() + 1 + np.arange(lonely.sum())
    _, cluster = np.unique(predicted, return_inverse=True)
    _, label = np.unique(truth, return_inverse=True)
    # Sparse counts of (cluster, label) pairs: a million faces in hundreds of thousands of
    # clusters and people would not fit a dense table.
    _, pair, both = np.unique(
        cluster.astype(np.int64) * (label.max() + 1) + label, return_inverse=True, return_counts=True
    )
    cluster_sizes, label_sizes = np.bincount(cluster), np.bincount(label)
    pairs_both = (both * (both - 1) / 2).sum()
    pairs_cluster = (cluster_sizes * (cluster_sizes - 1) / 2).sum()
    pairs_label = (label_sizes * (label_sizes - 1) / 2).sum()
    overlap = both[pair]
    b_precision = float(np.mean(overlap / cluster_sizes[cluster]))
    b_recall = float(np.mean(overlap / label_sizes[label]))
    p_precision = float(pairs_both / pairs_cluster) if pairs_cluster else 1.0
    p_recall = float(pairs_both / pairs_label) if pairs_label else 1.0
    return {
        "bcubed_precision": b_precision,
        "bcubed_recall": b_recall,
        "bcubed_f": _f(b_precision, b_recall),
        "pairwise_precision": p_precision,
        "pairwise_recall": p_recall,
        "pairwise_f": _f(p_precision, p_recall),
    }


def _f(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(faces: Faces, truth: np.ndarray, settings: ClusterSettings, graph: tuple[Neighbours, float]) -> dict:
    """One setting; the time includes finding the neighbours (``graph``: the graph and its time)."""
    neighbours, graph_seconds = graph
    started = time.perf_counter()
    outcome = plan(faces, neighbours, Decisions(), settings)
    seconds = time.perf_counter() - started + graph_seconds
    persons = outcome.persons
    return {
        "settings": settings.__dict__,
        "seconds": seconds,
        "clusters": outcome.clusters,
        "unassigned_fraction": float(np.mean(persons == NO_PERSON)),
        **scores(persons, truth),
    }


def grid(face_sizes: list[float]) -> list[ClusterSettings]:
    """HDBSCAN's sizes x the refinement's sure distance and margin (x face sizes when asked)."""
    return [
        ClusterSettings(
            min_cluster_size=size, min_samples=samples, sure_distance=sure, margin=margin, min_face_size=face
        )
        for size, samples, sure, margin, face in itertools.product(
            (2, 3), (1, 2, 3), (0.6, 0.65, 0.7, 0.75), (0.75, 0.8, 0.85), face_sizes
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a catalog scanned from a folder per person")
    parser.add_argument("--people", type=Path, help="only the people listed (LFW peopleDevTrain.txt format)")
    parser.add_argument("--grid", action="store_true", help="every setting of the grid, not only the defaults")
    parser.add_argument(
        "--face-sizes",
        type=float,
        nargs="+",
        default=[ClusterSettings.min_face_size],
        help="with --grid: the min_face_size values to try",
    )
    parser.add_argument("--name", default=None, help="results file name (default: from --db)")
    args = parser.parse_args()
    people = None
    if args.people:
        people = {line.split()[0] for line in args.people.read_text().splitlines()[1:] if line.strip()}
    faces, truth = main_faces(args.db, people)
    started = time.perf_counter()
    graph = (exact_neighbours(faces.embeddings), time.perf_counter() - started)
    runs = [
        evaluate(faces, truth, settings, graph)
        for settings in (grid(args.face_sizes) if args.grid else [ClusterSettings()])
    ]
    runs.sort(key=lambda run: -run["bcubed_f"])
    table = Table(title=f"clustering {len(truth)} faces of {len(set(truth))} people ({args.db.name})")
    columns = (
        "min size",
        "min samples",
        "sure, margin",
        "min face",
        "clusters",
        "unassigned",
        "BCubed P/R/F",
        "pairwise P/R/F",
        "seconds",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for run in runs[:15]:
        s = run["settings"]
        table.add_row(
            str(s["min_cluster_size"]),
            str(s["min_samples"]),
            f"{s['sure_distance']:.2f}, {s['margin']:.2f}",
            f"{s['min_face_size']:.0f}",
            str(run["clusters"]),
            f"{100 * run['unassigned_fraction']:.1f}%",
            f"{run['bcubed_precision']:.3f}/{run['bcubed_recall']:.3f}/{run['bcubed_f']:.3f}",
            f"{run['pairwise_precision']:.3f}/{run['pairwise_recall']:.3f}/{run['pairwise_f']:.3f}",
            f"{run['seconds']:.1f}",
        )
    console = Console(width=150)
    console.print(table)
    name = args.name or f"clustering_{args.db.stem}" + ("_grid" if args.grid else "")
    path = write_result(
        name,
        {
            "db": args.db.name,
            "faces": len(truth),
            "people": len(set(truth)),
            "peak_rss_mb": peak_rss_mb(),
            "runs": runs,
        },
    )
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
