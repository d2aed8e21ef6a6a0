"""MTCNN (Zhang et al. 2016): P-Net proposes, R-Net refines, O-Net scores and finds 5 landmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from photoface import config
from photoface.engine.base import OnnxModel
from photoface.engine.boxes import nms, proposal_boxes, regress, square

_RESAMPLE = Image.Resampling.BOX  # area averaging, as the reference's pyramid
CHUNK = 128  # R-Net inputs per call (O-Net: a quarter); larger batches are no faster on a CPU


def normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW in [-1, 1], the nets' training normalisation."""
    return ((pixels.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 3, 1, 2)


def crop_patches(image: Image.Image, boxes: np.ndarray, size: int) -> np.ndarray:
    """The part of each box inside ``image``, resized to size x size, as the reference
    detector for these weights cuts them.

    Two details of that reference matter on real photos and are kept: a box that leaves the
    image is stretched, not zero-padded, and the cut starts one pixel up and left of the
    truncated corner. Measured: with both, 43/43 boxed group faces and a face in all 118
    fivecelebs photos; zero-padding or rounded corners lose one to three of them.
    """
    limits = [image.width, image.height, image.width, image.height]
    corners = np.hstack([np.trunc(boxes[:, :2]) - 1, np.trunc(boxes[:, 2:])])
    clipped = np.clip(corners, 0, limits).astype(int)
    patches = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(clipped):
        if x2 > x1 and y2 > y1:
            patches[i] = np.asarray(image.crop((x1, y1, x2, y2)).resize((size, size), _RESAMPLE))
    return patches


@dataclass(frozen=True)
class Detections:
    """Faces in one image's pixel frame: boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)


class PNet(OnnxModel):
    name = "pnet"

    def propose(self, image: Image.Image, scale: float, threshold: float) -> tuple[np.ndarray, ...]:
        size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
        pixels = np.asarray(image.resize(size, _RESAMPLE))[None]
        prob, reg = self.run(normalise(pixels))
        boxes, scores, offsets = proposal_boxes(prob[0], reg[0], scale, threshold)
        keep = nms(boxes, scores, 0.5)
        return boxes[keep], scores[keep], offsets[keep]


class RNet(OnnxModel):
    name = "rnet"

    def score(self, image: Image.Image, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob, reg = self.run_in_chunks(normalise(crop_patches(image, boxes, 24)), CHUNK)
        return prob, reg


class ONet(OnnxModel):
    name = "onet"

    def score(self, image: Image.Image, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prob, reg, points = self.run_in_chunks(normalise(crop_patches(image, boxes, 48)), CHUNK // 4)
        # Landmarks come as 5 x's then 5 y's, as fractions of the box.
        size = boxes[:, 2:4] - boxes[:, 0:2]
        landmarks = boxes[:, None, 0:2] + np.stack([points[:, :5], points[:, 5:]], axis=2) * size[:, None, :]
        return prob, reg, landmarks


def pyramid_scales(width: int, height: int, min_face: int, factor: float) -> list[float]:
    """Scales at which a face of ``min_face`` pixels and up fills P-Net's 12-pixel window."""
    scale = 12.0 / min_face
    side = min(width, height) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


class MTCNN:
    """The three-stage cascade, composed from the three nets."""

    def __init__(
        self,
        pnet: PNet,
        rnet: RNet,
        onet: ONet,
        *,
        min_face: int = config.MIN_FACE,
        factor: float = config.PYRAMID_FACTOR,
        thresholds: tuple[float, float, float] = config.STAGE_THRESHOLDS,
    ) -> None:
        self.check_settings(min_face, factor)
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self.min_face, self.factor, self.thresholds = min_face, factor, thresholds

    @staticmethod
    def check_settings(min_face: int, factor: float) -> None:
        if min_face < 12:
            raise ValueError(f"min_face={min_face}: must be at least 12 pixels (P-Net's window)")
        if not 0.1 <= factor < 1:
            raise ValueError(f"factor={factor}: the pyramid factor must be in [0.1, 1)")

    @classmethod
    def load(cls, device: str = "auto", threads: int = config.THREADS, models: Path | None = None, **settings) -> MTCNN:
        return cls(
            PNet.load(device, threads, models),
            RNet.load(device, threads, models),
            ONet.load(device, threads, models),
            **settings,
        )

    def detect(self, image: Image.Image) -> Detections:
        """All faces in an RGB image, best first, in that image's pixel frame."""
        boxes = self._propose(image)
        if len(boxes):
            boxes = self._refine(image, boxes)
        if not len(boxes):
            return Detections.empty()
        return self._output(image, boxes)

    def _propose(self, image: Image.Image) -> np.ndarray:
        stage = [
            self.pnet.propose(image, scale, self.thresholds[0])
            for scale in pyramid_scales(image.width, image.height, self.min_face, self.factor)
        ]
        if not stage:
            return np.empty((0, 4), np.float32)
        boxes, scores, offsets = (np.concatenate(parts) for parts in zip(*stage, strict=True))
        keep = nms(boxes, scores, 0.7)
        return square(regress(boxes[keep], offsets[keep]))

    def _refine(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        prob, offsets = self.rnet.score(image, boxes)
        passed = prob > self.thresholds[1]
        boxes, prob, offsets = boxes[passed], prob[passed], offsets[passed]
        keep = nms(boxes, prob, 0.7)
        return square(regress(boxes[keep], offsets[keep]))

    def _output(self, image: Image.Image, boxes: np.ndarray) -> Detections:
        prob, offsets, landmarks = self.onet.score(image, boxes)
        passed = prob > self.thresholds[2]
        boxes = regress(boxes[passed], offsets[passed])
        prob, landmarks = prob[passed], landmarks[passed]
        keep = nms(boxes, prob, 0.7, overlap="min")
        return Detections(
            boxes[keep].astype(np.float32), prob[keep].astype(np.float32), landmarks[keep].astype(np.float32)
        )
