"""face_recognition (dlib) as its users run it, for benchmarks/compare.py. Standalone: it runs
in the peers' own environment (benchmarks/peers/setup.sh), which has no photoface.

    python face_recognition_child.py LIST OUT [--fallback X1,Y1,X2,Y2] [--warmup N]

LIST: one image path a line. Each image: ``face_locations`` (HOG, one upsampling: the
library's default) then ``face_encodings`` of every face (the "small" 5-point model, one
jitter: the defaults), in 2 worker processes, as the ``face_recognition --cpus 2`` command
does. OUT (.npz): per image the boxes (x1 y1 x2 y2) and 128-d encodings; with --fallback, an
image with no face gets the encoding of that fixed box too (not counted as a face).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    """VmHWM: unlike ru_maxrss it does not carry over the forking parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def analyse(path: str, fallback: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    import face_recognition

    image = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(image)  # (top, right, bottom, left)
    encodings = face_recognition.face_encodings(image, locations)
    boxes = np.array([[left, top, right, bottom] for top, right, bottom, left in locations], np.float32)
    extra = None
    if not locations and fallback is not None:
        x1, y1, x2, y2 = fallback
        extra = face_recognition.face_encodings(image, [(y1, x2, y2, x1)])[0]
    return boxes.reshape(-1, 4), np.array(encodings, np.float32).reshape(-1, 128), extra, peak_rss_mb()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("list")
    parser.add_argument("out")
    parser.add_argument("--fallback")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    paths = Path(args.list).read_text().splitlines()
    fallback = tuple(round(float(v)) for v in args.fallback.split(",")) if args.fallback else None
    work = functools.partial(analyse, fallback=fallback)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(work, paths[: args.warmup] * 2, chunksize=1)  # both workers load the models
        started = time.perf_counter()
        results = pool.map(work, paths, chunksize=1)
        seconds = time.perf_counter() - started
    counts = np.array([len(r[0]) for r in results])
    np.savez(
        args.out,
        counts=counts,
        boxes=np.concatenate([r[0] for r in results]) if len(results) else np.empty((0, 4)),
        embeddings=np.concatenate([r[1] for r in results]) if len(results) else np.empty((0, 128)),
        fallback_index=np.array([i for i, r in enumerate(results) if r[2] is not None], np.int64),
        fallback=np.array([r[2] for r in results if r[2] is not None], np.float32).reshape(-1, 128),
    )
    worker_peak = max((r[3] for r in results), default=0.0)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb() + 2 * worker_peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
