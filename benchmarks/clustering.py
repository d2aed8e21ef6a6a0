"""Clustering quality on scanned catalogs whose folders name the people (LFW, fivecelebs,
../shared/data/people), against two baselines computed in the same run.

Every face of the catalog takes part in the clustering (group photos, people in the
background: they are library content); one face of each photo is scored, labelled with its
folder's name:

- ``largest``: the photo's largest face, as held-out libraries are measured (the default);
- ``centre``: the face nearest the photo's centre, LFW's protocol (its named person is
  centred); give it per catalog as ``--db lfw.db@centre``.

Photos under ``_groups/`` are clustered but not scored (no per-face labels); each photo under
``_strangers/`` is its own person. Faces left unassigned count as singletons. BCubed
precision/recall/F (pairwise too in the results file).

Methods, on the same faces:

- ``photoface``: ``photoface.clustering.plan`` with the default settings (or each setting of
  ``--grid``) on the exact 16-neighbour graph;
- ``before da8c916``: the clustering before the neighbour graph: HDBSCAN on all pairs, then
  members whose two nearest fellow members are farther than 1.0 on average leave (its
  ``refine``), one face per person per photo;
- ``average link``: scipy's average-linkage on all pairs of squared distances, cut at a
  threshold; reported at each set's best threshold (chosen afterwards, on the answers) and at
  the one threshold best on average across the sets given.

    python -m benchmarks.clustering --db people.db --db fivecelebs.db --db lfw.db@centre
    python -m benchmarks.clustering --db people.db --db fivecelebs.db --grid
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import peak_rss_mb, write_result
from photoface.catalog import Catalog, path_from_db, signature_rows
from photoface.clustering import (
    NO_PERSON,
    ClusterSettings,
    Decisions,
    Faces,
    _one_face_per_person_per_photo,
    exact_neighbours,
    plan,
)

GROUPS, STRANGERS = "_groups", "_strangers"
THRESHOLDS = np.round(np.arange(0.6, 1.51, 0.05), 2)  # average link's cuts (mean squared distance)


@dataclass(frozen=True)
class Labelled:
    """A catalog's faces (all of them, fresh: nobody assigned) and the scored ones."""

    name: str
    faces: Faces
    scored: np.ndarray  # positions of the scored faces
    truth: np.ndarray  # their labels
    rule: str  # "largest" or "centre"


def catalog_faces(db: Path, rule: str, people: set[str] | None = None, name: str | None = None) -> Labelled:
    """Every face of the catalog's photos, and one face per labelled photo to score (``rule``).
    ``people``: only photos of these folders are scored (LFW's peopleDevTrain.txt)."""
    with Catalog.open(db, create=False) as catalog:
        rows = catalog.db.execute("""
            SELECT faces.id, photos.id, photos.path, faces.size, faces.embedding,
                   faces.x + faces.w / 2 - photos.width / 2.0, faces.y + faces.h / 2 - photos.height / 2.0,
                   faces.signature
            FROM faces JOIN photos ON photos.id = faces.photo_id WHERE photos.status = 'ok'
            ORDER BY faces.id""").fetchall()
    count = len(rows)
    faces = Faces(
        ids=np.array([r[0] for r in rows]),
        photos=np.array([r[1] for r in rows]),
        embeddings=np.frombuffer(b"".join(r[4] for r in rows), np.float32).reshape(count, -1).copy(),
        sizes=np.array([r[3] for r in rows], dtype=np.float64),
        persons=np.full(count, NO_PERSON),
        fixed=np.zeros(count, dtype=bool),
        signatures=signature_rows([r[7] for r in rows]),
    )
    chosen: dict[int, tuple[float, int]] = {}
    for position, (_, photo, _, size, _, dx, dy, _) in enumerate(rows):
        key = -size if rule == "largest" else dx * dx + dy * dy
        if photo not in chosen or key < chosen[photo][0]:
            chosen[photo] = (key, position)
    scored, truth = [], []
    for _, position in sorted(chosen.values(), key=lambda c: c[1]):
        path = path_from_db(rows[position][2])
        label = os.path.basename(os.path.dirname(path))
        if label == GROUPS or (people is not None and label not in people):
            continue
        scored.append(position)
        truth.append(f"{STRANGERS}/{os.path.basename(path)}" if label == STRANGERS else label)
    return Labelled(name or db.stem, faces, np.array(scored, dtype=int), np.array(truth), rule)


def main_faces(db: Path, people: set[str] | None) -> tuple[Faces, np.ndarray]:
    """Only the scored face of each photo, nearest its centre, and its label (the populations
    of ``benchmarks.cluster_scale``)."""
    data = catalog_faces(db, "centre", people)
    f, keep = data.faces, data.scored
    faces = Faces(f.ids[keep], f.photos[keep], f.embeddings[keep], f.sizes[keep], f.persons[keep], f.fixed[keep])
    return faces, data.truth


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


def _outcome(data: Labelled, persons: np.ndarray, seconds: float, **extra) -> dict:
    scored = persons[data.scored]
    return {
        **extra,
        "seconds": seconds,
        "people_found": len(np.unique(scored[scored != NO_PERSON])),
        "unassigned_fraction": float(np.mean(scored == NO_PERSON)),
        **scores(scored, data.truth),
    }


def photoface_runs(data: Labelled, settings_list: list[ClusterSettings]) -> list[dict]:
    """``plan`` for each setting; the time includes the exact neighbour graph."""
    started = time.perf_counter()
    graph = exact_neighbours(data.faces.embeddings)
    graph_seconds = time.perf_counter() - started
    runs = []
    for settings in settings_list:
        started = time.perf_counter()
        outcome = plan(data.faces, graph, Decisions(), settings)
        seconds = time.perf_counter() - started + graph_seconds
        runs.append(_outcome(data, outcome.persons, seconds, settings=settings.__dict__, clusters=outcome.clusters))
    return runs


def before_graph(data: Labelled, distance: float = 1.0, min_face_size: float = 20.0) -> dict:
    """The clustering before da8c916 (``git show da8c916^:photoface/clustering.py``), for a
    fresh library: all-pairs HDBSCAN (min_cluster_size 2, min_samples 2, eom), its refine rule,
    new people, one face per person per photo."""
    import hdbscan

    started = time.perf_counter()
    faces = data.faces
    eligible = np.flatnonzero(faces.sizes >= min_face_size)
    embeddings = faces.embeddings[eligible]
    labels = hdbscan.HDBSCAN(min_cluster_size=2, min_samples=2, metric="euclidean", core_dist_n_jobs=1).fit_predict(
        embeddings.astype(np.float64)
    )
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        squared = 2 - 2 * embeddings[members] @ embeddings[members].T
        np.fill_diagonal(squared, np.inf)
        k = min(2, len(members) - 1)
        keep = np.partition(squared, k - 1, axis=1)[:, :k].mean(axis=1) <= distance
        labels[members[~keep]] = -1
        if keep.sum() < 2:
            labels[members] = -1
    persons = np.full(len(faces.ids), NO_PERSON)
    persons[eligible] = np.where(labels >= 0, -2 - labels, NO_PERSON)
    _one_face_per_person_per_photo(faces, persons)
    return _outcome(data, persons, time.perf_counter() - started)


def average_link(data: Labelled, min_face_size: float = 20.0) -> list[dict]:
    """scipy average linkage on all pairs of the eligible faces' squared distances, cut at each
    of ``THRESHOLDS``; clusters of one face are unassigned. Plain: no other rule applies."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    started = time.perf_counter()
    faces = data.faces
    eligible = np.flatnonzero(faces.sizes >= min_face_size)
    tree = linkage(pdist(faces.embeddings[eligible].astype(np.float64), "sqeuclidean"), method="average")
    seconds = time.perf_counter() - started
    runs = []
    for threshold in THRESHOLDS:
        cut = fcluster(tree, threshold, criterion="distance")
        persons = np.full(len(faces.ids), NO_PERSON)
        persons[eligible] = np.where(np.bincount(cut)[cut] >= 2, cut, NO_PERSON)
        runs.append(_outcome(data, persons, seconds, threshold=float(threshold)))
    return runs


def grid(face_sizes: list[float]) -> list[ClusterSettings]:
    """HDBSCAN's sizes x the refinement's sure distance and margin x the merge distance (x face
    sizes when asked)."""
    return [
        replace(
            ClusterSettings(),
            min_cluster_size=size,
            min_samples=samples,
            sure_distance=sure,
            margin=margin,
            merge_distance=merge,
            min_face_size=face,
        )
        for size, samples, sure, margin, merge, face in itertools.product(
            (2, 3), (2,), (0.6, 0.65, 0.7), (0.8,), (0.0, 0.8, 0.9, 1.0, 1.1), face_sizes
        )
    ]


def _parse_db(text: str, default_rule: str) -> tuple[Path, str]:
    path, _, rule = text.partition("@")
    rule = rule or default_rule
    if rule not in ("largest", "centre"):
        raise SystemExit(f"{text}: the face rule after @ is 'largest' or 'centre'")
    return Path(path), rule


def _prf(run: dict) -> str:
    return f"{run['bcubed_precision']:.3f} / {run['bcubed_recall']:.3f} / {run['bcubed_f']:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        action="append",
        required=True,
        help="a catalog scanned from a folder per person; DB@centre or DB@largest picks the scored face",
    )
    parser.add_argument(
        "--centre", action="store_true", help="score the face nearest the centre where --db does not say"
    )
    parser.add_argument("--people", type=Path, help="only score the people listed (LFW peopleDevTrain.txt format)")
    parser.add_argument("--grid", action="store_true", help="every setting of the grid, not only the defaults")
    parser.add_argument("--no-baselines", action="store_true", help="photoface only (no all-pairs baselines)")
    parser.add_argument(
        "--face-sizes",
        type=float,
        nargs="+",
        default=[ClusterSettings.min_face_size],
        help="with --grid: the min_face_size values to try",
    )
    parser.add_argument("--name", default=None, help="results file name (default: from the catalogs)")
    args = parser.parse_args()
    people = None
    if args.people:
        people = {line.split()[0] for line in args.people.read_text().splitlines()[1:] if line.strip()}
    console = Console(width=170)
    sets = []
    for text in args.db:
        path, rule = _parse_db(text, "centre" if args.centre else "largest")
        sets.append(catalog_faces(path, rule, people))
    settings_list = grid(args.face_sizes) if args.grid else [ClusterSettings()]
    results = []
    for data in sets:
        console.print(
            f"{data.name}: {len(data.faces.ids):,} faces clustered, {len(data.scored):,} scored ({data.rule}), "
            f"{len(set(data.truth)):,} people"
        )
        entry = {
            "db": data.name,
            "rule": data.rule,
            "faces": len(data.faces.ids),
            "scored": len(data.scored),
            "people": len(set(data.truth)),
            "photoface": photoface_runs(data, settings_list),
        }
        if not args.no_baselines:
            entry["before_da8c916"] = before_graph(data)
            entry["average_link"] = average_link(data)
        results.append(entry)
    if args.grid:
        _grid_table(console, results, settings_list)
    fixed = None
    if not args.no_baselines:
        mean_f = [np.mean([r["average_link"][i]["bcubed_f"] for r in results]) for i in range(len(THRESHOLDS))]
        fixed = int(np.argmax(mean_f))
    table = Table(title="clustering quality, BCubed P / R / F (people found)")
    table.add_column("method")
    for entry in results:
        table.add_column(f"{entry['db']} ({entry['rule']}, {entry['scored']} faces, {entry['people']} people)")
    rows = [("photoface (defaults)" if not args.grid else "photoface (first setting)", lambda e: e["photoface"][0])]
    if not args.no_baselines:
        rows += [
            ("before da8c916 (all-pairs HDBSCAN)", lambda e: e["before_da8c916"]),
            (f"average link, one threshold {THRESHOLDS[fixed]:.2f}", lambda e: e["average_link"][fixed]),
            ("average link, best threshold per set", lambda e: max(e["average_link"], key=lambda r: r["bcubed_f"])),
        ]
    for title, pick in rows:
        cells = []
        for entry in results:
            run = pick(entry)
            extra = f" @{run['threshold']:.2f}" if "threshold" in run else ""
            cells.append(f"{_prf(run)} ({run['people_found']}){extra}, {run['seconds']:.1f} s")
        table.add_row(title, *cells)
    console.print(table)
    name = args.name or "clustering_" + "_".join(entry["db"] for entry in results) + ("_grid" if args.grid else "")
    payload = {
        "sets": results,
        "average_link_fixed_threshold": float(THRESHOLDS[fixed]) if fixed is not None else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    console.print(f"wrote {write_result(name, payload)}")
    return 0


def _grid_table(console: Console, results: list[dict], settings_list: list[ClusterSettings]) -> None:
    """The grid's settings, best mean F across the sets first."""
    table = Table(title="photoface settings, BCubed F per set (mean first)")
    for column in ("min size", "sure", "margin", "merge", "min face", "mean F", *(e["db"] for e in results)):
        table.add_column(column, justify="right")
    means = [np.mean([e["photoface"][i]["bcubed_f"] for e in results]) for i in range(len(settings_list))]
    for i in np.argsort(means)[::-1][:20]:
        s = settings_list[i]
        table.add_row(
            str(s.min_cluster_size),
            f"{s.sure_distance:.2f}",
            f"{s.margin:.2f}",
            f"{s.merge_distance:.2f}",
            f"{s.min_face_size:.0f}",
            f"{means[i]:.3f}",
            *(_prf(e["photoface"][i]) for e in results),
        )
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
