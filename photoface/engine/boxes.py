"""Box geometry for the detector, on float arrays of shape (N, 4) as x1, y1, x2, y2.

Coordinates are continuous: a box from x1=0 to x2=12 covers 12 pixels. (The MATLAB-born
reference adds and subtracts 1 in places; that shifts boxes by at most a pixel.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Overlap = Literal["union", "min"]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, overlap: Overlap = "union") -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first.

    A box is dropped when its overlap with a better kept box is above ``threshold``, overlap
    being intersection over union, or over the smaller area ("min", MTCNN's last stage).
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None) * np.clip(
            np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None
        )
        denominator = np.minimum(area[best], area[rest]) if overlap == "min" else area[best] + area[rest] - inter
        ratio = inter / np.maximum(denominator, 1e-12)
        order = rest[ratio <= threshold]
    return np.asarray(keep, dtype=np.intp)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4): shape (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply the nets' box regression: each offset is a fraction of the box's width or height."""
    size = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
    return boxes + offsets * size


def square(boxes: np.ndarray) -> np.ndarray:
    """The square of side max(width, height) with the same centre (the next net's input is square)."""
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
    half = np.max(boxes[:, 2:4] - boxes[:, 0:2], axis=1, keepdims=True) / 2
    return np.hstack([centre - half, centre + half])


def proposal_boxes(
    prob: np.ndarray, reg: np.ndarray, scale: float, threshold: float, *, stride: int = 2, cell: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P-Net's output map to candidate boxes in image coordinates.

    ``prob`` (H, W) face probabilities, ``reg`` (4, H, W) offsets; each output cell looks at
    a ``cell``-pixel window, ``stride`` pixels apart, of the image resized by ``scale``.
    Returns boxes (N, 4), scores (N,) and offsets (N, 4).
    """
    ys, xs = np.nonzero(prob >= threshold)
    corner = np.stack([xs, ys], axis=1) * stride
    boxes = np.hstack([corner, corner + cell]).astype(np.float32) / scale
    return boxes, prob[ys, xs], reg[:, ys, xs].T
