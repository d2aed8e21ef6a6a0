"""Detection on the real photos in ../shared/data for one profile (default ``best``, the original settings).

Recall and precision on the 9 boxed group photos (a detection matches a hand-drawn box at
IoU >= 0.4, greedily, one to one), faces found in the two unboxed group photos, photos of
fivecelebs with at least one face, and faces found where there are none.

    python -m benchmarks.detection [--profile balanced]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.common import require_data, write_result
from benchmarks.datasets import corner_boxes, detection_scores, match_boxes, read_face_boxes
from photoface import config
from photoface.engine import FaceEngine


def boxed_recall(engine: FaceEngine, truth: dict[Path, np.ndarray]) -> dict:
    """Recall and precision against hand-drawn boxes (IoU >= 0.4, one to one)."""
    photos = [(boxes, corner_boxes(engine.analyze(photo))) for photo, boxes in sorted(truth.items())]
    per_photo = {
        photo.name: {"true": len(boxes), "found": len(found), "matched": match_boxes(boxes, found)}
        for (photo, _), (boxes, found) in zip(sorted(truth.items()), photos, strict=True)
    }
    return {**detection_scores(photos), "per_photo": per_photo}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=config.PROFILES, default="best", help="detector settings")
    args = parser.parse_args()
    console = Console()
    engine = FaceEngine.from_profile(args.profile, "cpu")
    groups = require_data("groups")
    boxed = boxed_recall(engine, read_face_boxes(groups))
    matched, true_total, found = boxed["matched"], boxed["true_faces"], boxed["detections"]
    unboxed = {name: len(engine.analyze(groups / name)) for name in ("group1.jpg", "group2.jpg")}
    fivecelebs = sorted(require_data("fivecelebs").glob("*/*/*.jpg"))
    with_face = sum(1 for a in engine.analyze_many(fivecelebs) if a.faces)
    nofaces = {p.name: len(engine.analyze(p)) for p in sorted(require_data("nofaces").glob("*.jpg"))}
    result = {
        "profile": args.profile,
        "groups": boxed,
        "unboxed_group_faces": unboxed,
        "fivecelebs_photos": len(fivecelebs),
        "fivecelebs_photos_with_face": with_face,
        "nofaces_detections": nofaces,
    }
    console.print(
        f"boxed groups: recall {matched}/{true_total} = {result['groups']['recall']:.3f}, "
        f"precision {matched}/{found} = {result['groups']['precision']:.3f} (IoU >= 0.4)"
    )
    console.print(f"unboxed groups: {unboxed}")
    console.print(f"fivecelebs: {with_face}/{len(fivecelebs)} photos with a face")
    console.print(f"no-face photos: {nofaces}")
    console.print(
        f"wrote {write_result('detection' if args.profile == 'best' else f'detection_{args.profile}', result)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
