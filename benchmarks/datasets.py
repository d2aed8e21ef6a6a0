"""Readers for the labelled test data in ../shared/data (used by benchmarks and tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photoface.engine.boxes import iou


@dataclass(frozen=True)
class Pairs:
    """LFW verification pairs: image paths, whether they show the same person, and the fold."""

    left: list[Path]
    right: list[Path]
    same: np.ndarray  # bool
    fold: np.ndarray  # int

    def head(self, count: int) -> Pairs:
        return Pairs(self.left[:count], self.right[:count], self.same[:count], self.fold[:count])


def read_pairs(path: Path, images: Path) -> Pairs:
    """``pairs.txt`` (View 2: header "10 300", 600 pairs a fold) or ``pairsDev*.txt`` (one fold)."""
    lines = path.read_text().split("\n")
    header = lines[0].split()
    per_fold = 2 * int(header[-1])
    left, right, same = [], [], []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            left.append(_lfw_image(images, parts[0], parts[1]))
            right.append(_lfw_image(images, parts[0], parts[2]))
            same.append(True)
        elif len(parts) == 4:
            left.append(_lfw_image(images, parts[0], parts[1]))
            right.append(_lfw_image(images, parts[2], parts[3]))
            same.append(False)
    fold = np.arange(len(same)) // per_fold if len(header) == 2 else np.zeros(len(same), int)
    return Pairs(left, right, np.array(same), fold)


def _lfw_image(images: Path, name: str, number: str) -> Path:
    return images / name / f"{name}_{int(number):04d}.jpg"


def read_face_boxes(groups: Path) -> dict[Path, np.ndarray]:
    """Hand-drawn face boxes of ``training.xml`` and ``testing.xml``: photo -> (N, 4) x1 y1 x2 y2."""
    boxes: dict[Path, np.ndarray] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(groups / name).getroot().iter("image"):
            rows = [[float(b.get(k)) for k in ("left", "top", "width", "height")] for b in image.iter("box")]
            xywh = np.array(rows).reshape(-1, 4)
            boxes[groups / image.get("file")] = np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    return boxes


def corner_boxes(faces) -> np.ndarray:
    """Faces' ``(x, y, w, h)`` boxes as an (N, 4) array of x1 y1 x2 y2, the form ``match_boxes`` takes."""
    return corners([f.box for f in faces])


def corners(boxes) -> np.ndarray:
    """``(x, y, w, h)`` boxes as an (N, 4) array of x1 y1 x2 y2."""
    xywh = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    return np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def match_boxes(truth: np.ndarray, found: np.ndarray, min_iou: float = 0.4) -> int:
    """How many true boxes a detection matches (greedy by IoU, one detection per truth)."""
    if not len(truth) or not len(found):
        return 0
    overlap = iou(truth, found)
    matched = 0
    while overlap.size and overlap.max() >= min_iou:
        t, f = np.unravel_index(np.argmax(overlap), overlap.shape)
        matched += 1
        overlap[t, :] = 0
        overlap[:, f] = 0
    return matched


def detection_scores(photos: list[tuple[np.ndarray, np.ndarray]], min_iou: float = 0.4) -> dict:
    """Recall and precision over photos given as (true boxes, found boxes), x1 y1 x2 y2."""
    matched = sum(match_boxes(truth, found, min_iou) for truth, found in photos)
    true_total, found_total = sum(len(t) for t, _ in photos), sum(len(f) for _, f in photos)
    return {
        "true_faces": true_total,
        "detections": found_total,
        "matched": matched,
        "recall": matched / max(true_total, 1),
        "precision": matched / max(found_total, 1),
        "min_iou": min_iou,
    }
