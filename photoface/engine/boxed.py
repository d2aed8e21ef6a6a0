"""A face where someone says there is one: a box (an XMP region another tool stored, or one a
person draws) becomes a face even where the scan's detector found none.

First MTCNN looks again inside the box: on a crop around it, scaled so the face fills the
pyramid's best scales, with relaxed stage thresholds. Relaxing is safe here and not in a
scan: a person already said a face is in this box, so a weak detection inside it is far
likelier a face turned aside or an old print than a false alarm. If MTCNN still finds
nothing, the box itself is the face: the landmark template is placed in the box (which is
what alignment of an upright frontal face would do), cut out and embedded.

>>> found = face_in_box(engine, load_image("print.jpg", None).image, (410, 120, 90, 110))
>>> found.detected, found.face.embedding.shape
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from photoface.engine.align import CROP_SIZE, TEMPLATE, face_crop
from photoface.engine.mtcnn import MTCNN, Detections
from photoface.engine.pipeline import Face, FaceEngine
from photoface.engine.signature import signature

Box = tuple[float, float, float, float]  # x, y, w, h in pixels of the upright photo

RELAXED = (0.5, 0.5, 0.5)  # P/R/O-Net thresholds inside a given box (a scan uses 0.6, 0.7, 0.7)
LOOK_SIDE = 160  # the box's longer side in the crop the detector looks at
CONTEXT = 0.5  # of the box's side, on each side: MTCNN was trained on faces in surroundings
LOOK_MIN_FACE = 40  # crop pixels: finds a face down to a quarter of a loose (head and shoulders) box
SMALLEST_LOOK = 8  # boxes under this many pixels are not looked into: no detail to find
MAX_UPSCALE = 8.0  # a tiny box is enlarged at most this much (more invents no detail)
MIN_OVERLAP = 0.2  # IoU of a detection with the box for it to be the box's face


@dataclass(frozen=True)
class BoxedFace:
    """The face for a box: found by the detector inside it (``detected``) or made from it."""

    face: Face
    detected: bool


def face_in_box(engine: FaceEngine, image: Image.Image, box: Box) -> BoxedFace:
    """The face in ``box`` of ``image`` (upright RGB, the frame ``box`` is in), embedded with
    ``engine``'s model: the detector's if it finds one there, else the box's own."""
    found = detect_in_box(engine, image, box)
    if found is not None:
        xyxy, score, landmarks = found
        return BoxedFace(_embedded(engine, image, xyxy, score, landmarks), True)
    xyxy = np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]], np.float32)
    return BoxedFace(_embedded(engine, image, xyxy, 0.0, box_landmarks(box)), False)


def detect_in_box(engine: FaceEngine, image: Image.Image, box: Box) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The detection that is the face of ``box`` (x1 y1 x2 y2, score, landmarks in ``image``'s
    frame), looking with relaxed thresholds on an enlarged crop around it; None if none is."""
    side = max(box[2], box[3])
    if side < SMALLEST_LOOK:
        return None
    margin = CONTEXT * side
    left, top = max(0, int(box[0] - margin)), max(0, int(box[1] - margin))
    right = min(image.width, int(np.ceil(box[0] + box[2] + margin)))
    bottom = min(image.height, int(np.ceil(box[1] + box[3] + margin)))
    scale = min(LOOK_SIDE / side, MAX_UPSCALE)
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    crop = image.crop((left, top, right, bottom)).resize(size, Image.Resampling.BILINEAR)
    found = _relaxed(engine).detect(crop)
    return _best(found, box, scale, (left, top))


def _relaxed(engine: FaceEngine) -> MTCNN:
    """The engine's own nets with thresholds for looking inside a given box."""
    nets = engine.detector
    return MTCNN(nets.pnet, nets.rnet, nets.onet, min_face=LOOK_MIN_FACE, thresholds=RELAXED)


def _best(
    found: Detections, box: Box, scale: float, origin: tuple[int, int]
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """The detection overlapping ``box`` most, mapped back from the crop; its centre must lie
    in the box (a neighbour's face at the crop's edge is not this one)."""
    best, best_overlap = None, MIN_OVERLAP
    shift = np.array(origin, np.float32)
    for i in range(len(found)):
        x1, y1, x2, y2 = found.boxes[i] / scale + np.tile(shift, 2)
        centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
        inside = box[0] <= centre_x <= box[0] + box[2] and box[1] <= centre_y <= box[1] + box[3]
        overlap = _iou((x1, y1, x2 - x1, y2 - y1), box)
        if inside and overlap >= best_overlap:
            best, best_overlap = i, overlap
    if best is None:
        return None
    xyxy = found.boxes[best] / scale + np.tile(shift, 2)
    return xyxy.astype(np.float32), float(found.scores[best]), found.landmarks[best] / scale + shift


def box_landmarks(box: Box) -> np.ndarray:
    """The five landmarks of an upright frontal face filling ``box``'s square: the alignment
    template scaled into it, so aligning by them cuts out the box."""
    side = max(box[2], box[3])
    centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
    return ((TEMPLATE / CROP_SIZE - 0.5) * side + centre).astype(np.float32)


def _embedded(engine: FaceEngine, image: Image.Image, xyxy: np.ndarray, score: float, landmarks: np.ndarray) -> Face:
    x1, y1, x2, y2 = np.clip(xyxy, 0, [image.width, image.height, image.width, image.height])
    crop = face_crop(image, np.array([x1, y1, x2, y2]), landmarks, engine.align)
    embedding = engine.embedder.embed([crop], flip=engine.flip)[0]
    box = (float(x1), float(y1), float(max(x2 - x1, 1.0)), float(max(y2 - y1, 1.0)))
    return Face(box, score, np.asarray(landmarks, np.float32), embedding, crop, signature(image, landmarks))


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return ix * iy / union if union > 0 else 0.0
