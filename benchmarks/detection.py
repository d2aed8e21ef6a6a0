"""Detection on the real photos in ../shared/data at the engine's defaults.

Recall and precision on the 9 boxed group photos (a detection matches a hand-drawn box at
IoU >= 0.4, greedily, one to one), faces found in the two unboxed group photos, photos of
fivecelebs with at least one face, and faces found where there are none.

    python -m benchmarks.detection
"""

from __future__ import annotations

import sys

from rich.console import Console

from benchmarks.common import require_data, write_result
from benchmarks.datasets import corner_boxes, match_boxes, read_face_boxes
from photoface.engine import FaceEngine


def main() -> int:
    console = Console()
    engine = FaceEngine(device="cpu")
    groups = require_data("groups")
    truth = read_face_boxes(groups)
    per_photo, matched, found = {}, 0, 0
    for photo, boxes in sorted(truth.items()):
        detected = corner_boxes(engine.analyze(photo))
        hits = match_boxes(boxes, detected, min_iou=0.4)
        per_photo[photo.name] = {"true": len(boxes), "found": len(detected), "matched": hits}
        matched, found = matched + hits, found + len(detected)
    true_total = sum(len(b) for b in truth.values())
    unboxed = {name: len(engine.analyze(groups / name)) for name in ("group1.jpg", "group2.jpg")}
    fivecelebs = sorted(require_data("fivecelebs").glob("*/*/*.jpg"))
    with_face = sum(1 for a in engine.analyze_many(fivecelebs) if a.faces)
    nofaces = {p.name: len(engine.analyze(p)) for p in sorted(require_data("nofaces").glob("*.jpg"))}
    result = {
        "groups": {
            "true_faces": true_total,
            "detections": found,
            "matched": matched,
            "recall": matched / true_total,
            "precision": matched / max(found, 1),
            "min_iou": 0.4,
            "per_photo": per_photo,
        },
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
    console.print(f"wrote {write_result('detection', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
