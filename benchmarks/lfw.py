"""LFW face verification with the official protocol.

View 2 (``pairs.txt``): 10 folds of 600 pairs; the distance threshold is chosen on 9 folds and
tested on the 10th; mean +- std over the folds. View 1 (``pairsDevTrain``/``pairsDevTest``):
threshold on the training pairs, accuracy on the test pairs; use it to choose settings.

One detection per image serves every variant asked for (crop mode x flip averaging), so they
are compared on identical faces in one run.

    python -m benchmarks.lfw                      # View 2, default settings
    python -m benchmarks.lfw --view 1 --compare   # all crop modes x flip, View 1

Face choice: LFW images are centred on the labelled person, so the detection whose box contains
the image centre (largest if several; else the nearest) is used. Where no face is found the
fixed central box is margin-cropped (counted and reported as ``fallback``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import peak_rss_mb, require_data, write_result
from benchmarks.datasets import Pairs, read_pairs
from photoface import config
from photoface.engine import FaceEngine
from photoface.engine.align import face_crop, margin_crop
from photoface.engine.mtcnn import Detections

CENTRE_BOX = np.array([78.0, 62.0, 172.0, 188.0])  # where LFW's deep-funneled faces sit in 250x250


def main_face(found: Detections, width: int, height: int) -> int | None:
    if not len(found):
        return None
    centre = np.array([width / 2, height / 2])
    boxes = found.boxes
    contains = np.all((boxes[:, :2] <= centre) & (boxes[:, 2:] >= centre), axis=1)
    if contains.any():
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        return int(np.argmax(np.where(contains, area, -1)))
    return int(np.argmin(np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - centre, axis=1)))


def embed_images(engine: FaceEngine, paths: list[Path], aligns: list[str], console: Console) -> tuple[dict, int]:
    """For each crop mode: (N, 128) embeddings of each image and of its mirror image."""
    crops: dict[str, list] = {mode: [] for mode in aligns}
    fallback = 0
    for path in paths:
        image = engine.load(path)
        found = engine.detect(image)
        index = main_face(found, image.image.width, image.image.height)
        for mode in aligns:
            if index is None:
                crops[mode].append(margin_crop(image.image, CENTRE_BOX))
            else:
                crops[mode].append(face_crop(image.image, found.boxes[index], found.landmarks[index], mode))
        fallback += index is None
    vectors = {}
    for mode, faces in crops.items():
        plain = engine.embedder.embed(faces, flip=False)
        mirrored = engine.embedder.embed([face.transpose(0) for face in faces], flip=False)
        vectors[mode] = (plain, mirrored)
    console.print(f"embedded {len(paths)} images, no face found in {fallback}")
    return vectors, fallback


def verification(engine: FaceEngine, console: Console) -> dict:
    """LFW View 2 with ``engine``'s own crop and flip settings: the number each profile reports."""
    lfw = require_data("lfw")
    pairs = read_pairs(lfw / "pairs.txt", lfw / "images")
    paths = sorted({*pairs.left, *pairs.right})
    vectors, fallback = embed_images(engine, paths, [engine.align], console)
    embedding = combine(*vectors[engine.align], engine.flip)
    return {**evaluate(pair_distances(embedding, paths, pairs), pairs), "no_face_fallback": fallback}


def pair_distances(embedding: np.ndarray, paths: list[Path], pairs: Pairs) -> np.ndarray:
    """Squared L2 distance of each pair, ``embedding[i]`` being the vector of ``paths[i]``."""
    index = {path: i for i, path in enumerate(paths)}
    left, right = embedding[[index[x] for x in pairs.left]], embedding[[index[x] for x in pairs.right]]
    return np.sum((left - right) ** 2, axis=1)


def combine(plain: np.ndarray, mirrored: np.ndarray, flip: bool) -> np.ndarray:
    if not flip:
        return plain
    summed = plain + mirrored
    return summed / np.linalg.norm(summed, axis=1, keepdims=True)


def best_threshold(distance: np.ndarray, same: np.ndarray) -> float:
    candidates = np.sort(distance)
    accuracy = [np.mean((distance <= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def evaluate(distance: np.ndarray, pairs: Pairs) -> dict:
    accuracies, thresholds = [], []
    for fold in np.unique(pairs.fold):
        test = pairs.fold == fold
        threshold = best_threshold(distance[~test], pairs.same[~test])
        accuracies.append(float(np.mean((distance[test] <= threshold) == pairs.same[test])))
        thresholds.append(threshold)
    return {
        "accuracy": float(np.mean(accuracies)),
        "std": float(np.std(accuracies)),
        "folds": accuracies,
        "threshold_mean": float(np.mean(thresholds)),
    }


def evaluate_view1(train_distance, train: Pairs, test_distance, test: Pairs) -> dict:
    threshold = best_threshold(train_distance, train.same)
    return {"accuracy": float(np.mean((test_distance <= threshold) == test.same)), "std": 0.0, "threshold": threshold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--view", type=int, choices=(1, 2), default=2)
    parser.add_argument("--align", choices=("similarity", "margin"), default="similarity")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal-flip averaging (default: the profile's)")
    parser.add_argument("--compare", action="store_true", help="every crop mode x flip setting")
    parser.add_argument("--limit", type=int, default=0, help="first N pairs only (quick check)")
    parser.add_argument("--profile", choices=config.PROFILES, default="best", help="detector and precision settings")
    args = parser.parse_args()
    console = Console()
    lfw = require_data("lfw")
    files = ["pairs.txt"] if args.view == 2 else ["pairsDevTrain.txt", "pairsDevTest.txt"]
    pair_sets = [read_pairs(lfw / name, lfw / "images") for name in files]
    if args.limit:
        pair_sets = [p.head(args.limit) for p in pair_sets]
    paths = sorted({path for p in pair_sets for path in p.left + p.right})
    aligns = ["similarity", "margin"] if args.compare else [args.align]
    engine = FaceEngine.from_profile(args.profile, "cpu")
    flips = [False, True] if args.compare else [engine.flip and not args.no_flip]
    started = time.perf_counter()
    vectors, fallback = embed_images(engine, paths, aligns, console)
    seconds = time.perf_counter() - started
    rows = []
    for mode in aligns:
        for flip in flips:
            embedding = combine(*vectors[mode], flip)
            distances = [pair_distances(embedding, paths, p) for p in pair_sets]
            if args.view == 2:
                result = evaluate(distances[0], pair_sets[0])
            else:
                result = evaluate_view1(distances[0], pair_sets[0], distances[1], pair_sets[1])
            rows.append({"align": mode, "flip": flip, **result})
    table = Table(title=f"LFW View {args.view}: {sum(len(p.same) for p in pair_sets)} pairs, {len(paths)} images")
    for column in ("crop", "flip", "accuracy", "threshold (squared L2)"):
        table.add_column(column)
    for row in rows:
        threshold = row.get("threshold", row.get("threshold_mean"))
        table.add_row(
            row["align"],
            "yes" if row["flip"] else "no",
            f"{100 * row['accuracy']:.2f}% ± {100 * row['std']:.2f}",
            f"{threshold:.3f}",
        )
    console.print(table)
    name = f"lfw_view{args.view}" + ("_compare" if args.compare else "") + ("_limited" if args.limit else "")
    path = write_result(
        name,
        {
            "view": args.view,
            "pairs": int(sum(len(p.same) for p in pair_sets)),
            "images": len(paths),
            "no_face_fallback": fallback,
            "face_rule": "box containing the image centre, largest; else nearest; "
            "no face: fixed central box, margin crop",
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "results": rows,
        },
    )
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
