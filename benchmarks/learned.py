"""Does what the answers teach hold for faces and people it was not taught? (``photoface.learned``)

On a scanned catalog with its folder truth (``benchmarks.effort.read_truth``: the largest face of
each photo): a third of the people (seeded) are never named; of each other person, half the
faces (seeded) are "named", the other half held out. The per-person scores are learned from the
named halves only, then every held-out face that the review queue would consider for a named
person (mean squared distance to their two nearest named faces within ``ClusterSettings.distance``)
is one question "is this them?": yes for their own held-out faces, no for other people's and
for the never-named people's. Reported for the learned score and for the distance alone: the
area under the ROC curve, and at ``learned.CUT`` the share of yes kept and of no dropped;
plus the same on the training faces, to show the gap (overfitting).

    python -m benchmarks.learned --db /tmp/cat/people.db --data-root ../shared/data/people
    python -m benchmarks.learned --db /tmp/cat/lfw.db --data-root ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from benchmarks.effort import is_person, read_truth, working_copy
from photoface import learned
from photoface.catalog import Catalog
from photoface.clustering import NO_PERSON, ClusterSettings, Faces, squared_distances

SEED = 0


def split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(person index per face, -1 unnamed) for training, and the held-out mask."""
    rng = np.random.default_rng(seed)
    people = np.unique(labels[labels >= 0])
    named = set(rng.permutation(people)[: (2 * len(people)) // 3].tolist())
    train, held = np.full(len(labels), NO_PERSON), np.zeros(len(labels), bool)
    for person in people:
        mine = rng.permutation(np.flatnonzero(labels == person))
        if person in named and len(mine) >= 2:
            train[mine[: len(mine) // 2]] = person
            held[mine[len(mine) // 2 :]] = True
        else:
            held[mine] = True  # never named: every face is a "no" for everyone
    return train, held


def questions(faces: Faces, train: np.ndarray, asked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face position, person) pairs the queue would ask about, and their distances."""
    rows, persons, means = [], [], []
    for person in np.unique(train[train >= 0]):
        mine = faces.embeddings[train == person]
        squared = squared_distances(faces.embeddings[asked], mine.T)
        k = min(2, len(mine))
        mean = np.partition(squared, k - 1, axis=1)[:, :k].mean(axis=1)
        near = mean <= ClusterSettings.distance
        rows.append(asked[near])
        persons.append(np.full(near.sum(), person))
        means.append(mean[near])
    return np.concatenate(rows), np.concatenate(persons), np.concatenate(means)


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """The chance a random yes outranks a random no; None without both."""
    if positive.all() or not positive.any():
        return None
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    yes, no = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - yes * (yes + 1) / 2) / max(yes * no, 1))


def scored_questions(
    faces: Faces, labels: np.ndarray, train: np.ndarray, positions: np.ndarray, **options: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The questions' learned scores, whether each is a yes, and their distances."""
    model = learned.learn(
        Faces(faces.ids, faces.photos, faces.embeddings, faces.sizes, train, train >= 0),
        frozenset(np.unique(train[train >= 0]).tolist()),
        frozenset(),
        **{k: v for k, v in options.items() if k != "cut"},
    )
    rows, persons, means = questions(faces, train, positions)
    score = np.array([model.score(faces.embeddings[r][None], p)[0] for r, p in zip(rows, persons, strict=True)])
    return score, labels[rows] == persons, means


def evaluate(faces: Faces, labels: np.ndarray, train: np.ndarray, positions: np.ndarray, **options: float) -> dict:
    score, positive, means = scored_questions(faces, labels, train, positions, **options)
    kept = score >= options.get("cut", learned.CUT)
    return {
        "questions": len(score),
        "yes": int(positive.sum()),
        "auc_learned": _rounded(auc(score, positive)),
        "auc_distance": _rounded(auc(-means, positive)),
        "yes_kept": round(float(kept[positive].mean()) if positive.any() else 1.0, 4),
        "no_dropped": round(float((~kept[~positive]).mean()) if (~positive).any() else 1.0, 4),
    }


def sweep(faces: Faces, labels: np.ndarray, seeds: int = 5) -> list[dict]:
    """For each cut: over ``seeds`` splits, the held-out yes kept, no dropped, and the share of
    "no" among the questions still asked (what a user answering them sees)."""
    pooled = [
        scored_questions(faces, labels, train, np.flatnonzero(held))
        for train, held in map(lambda seed: split(labels, seed), range(seeds))
    ]
    score = np.concatenate([p[0] for p in pooled])
    positive = np.concatenate([p[1] for p in pooled])
    rows = []
    for cut in CUTS:
        kept = score >= cut
        rows.append(
            {
                "cut": cut,
                "yes_kept": round(float(kept[positive].mean()), 4) if positive.any() else 1.0,
                "no_dropped": round(float((~kept[~positive]).mean()), 4) if (~positive).any() else 1.0,
                "no_share_asked": round(float((kept & ~positive).sum() / max(kept.sum(), 1)), 4),
            }
        )
    return rows


CUTS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run(db: Path, root: Path) -> dict:
    with working_copy(db) as copy, Catalog.open(copy, create=False) as catalog:
        truth = read_truth(catalog, root)
        data = catalog.cluster_input()
    faces = Faces(**data.arrays)
    names = sorted({label for label in truth.labels.values() if is_person(label)})
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([index.get(truth.labels.get(int(f), ""), NO_PERSON) for f in faces.ids])
    train, held = split(labels)
    started = time.perf_counter()
    result = {
        "db": db.name,
        "people": len(names),
        "named": len(np.unique(train[train >= 0])),
        "held_out": evaluate(faces, labels, train, np.flatnonzero(held)),
        # The training faces themselves, each asked about its own person and the others.
        "training": evaluate(faces, labels, train, np.flatnonzero(train >= 0)),
    }
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["cuts"] = sweep(faces, labels)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a scanned catalog (copied, never written)")
    parser.add_argument("--data-root", type=Path, required=True, help="the folder scanned: <person>/photo")
    args = parser.parse_args()
    result = run(args.db, args.data_root.resolve())
    print(result)
    write_result(f"learned_{args.db.stem}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
