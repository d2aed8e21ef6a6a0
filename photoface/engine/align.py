"""Face crops for the embedder: 5-point similarity alignment (default) or a margin crop.

Pure functions: landmarks or a box in, a warped crop out.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

AlignMode = Literal["similarity", "margin"]
ALIGN_MODES: tuple[str, ...] = ("similarity", "margin")

CROP_SIZE = 160
# The widely used five-point template (eyes, nose tip, mouth corners) of 112x112 crops,
# scaled to 160x160 with no further shrink: measured best on LFW for this FaceNet.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE = TEMPLATE_112 * (CROP_SIZE / 112)
MARGIN = 32  # margin-crop mode: pixels of context around the box in the 160-pixel crop


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation + uniform scale + translation mapping ``src`` onto ``dst``
    with least squared error (Umeyama 1991). Both are (N, 2) point sets, N >= 2.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1  # a reflection is not a similarity: flip the weaker axis
    rotation = u @ np.diag(sign) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (singular * sign).sum() / variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def warp_affine(image: Image.Image, matrix: np.ndarray, size: int = CROP_SIZE) -> Image.Image:
    """``image`` warped by the 2x3 ``matrix`` (source -> crop coordinates) into size x size."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    # Pillow wants the map from output to input pixel.
    return image.transform(
        (size, size), Image.Transform.AFFINE, tuple(inverse.ravel()), resample=Image.Resampling.BILINEAR
    )


def align_face(image: Image.Image, landmarks: np.ndarray, size: int = CROP_SIZE) -> Image.Image:
    """The face whose 5 landmarks are given, rotated upright and scaled onto the template."""
    return warp_affine(image, similarity_transform(landmarks, TEMPLATE * (size / CROP_SIZE)), size)


def margin_crop(image: Image.Image, box: np.ndarray, size: int = CROP_SIZE, margin: int = MARGIN) -> Image.Image:
    """The square around ``box`` plus ``margin`` output pixels of context, resized to size x size."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    side_out = side * size / (size - margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = size / side_out
    matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]])
    return warp_affine(image, matrix, size)


def face_crop(image: Image.Image, box: np.ndarray, landmarks: np.ndarray, mode: AlignMode) -> Image.Image:
    if mode == "similarity":
        return align_face(image, landmarks)
    return margin_crop(image, box)
