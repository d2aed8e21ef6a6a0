"""A face's look in its photo: what tells a re-saved copy of one shot from another photo.

The embedding says who a face is, and on purpose not how the photo looked, so a resized, cropped
or colour-edited copy of a small face can lie as far from its original as another photo of the
person (docs/people.md, "Near-copies"). The pixels around the face say which shot it is. The
signature is the grey level of the region twice the aligned crop's size (face, hair, shoulders,
background), placed by the face's landmarks and cut into 16x16 cells: a copy keeps the same cells
whatever its size, quality or crop, while another photo of the same person, even a moment later,
moves the head against the background. Cells outside the photo (a copy cropped close) are 0 and
are left out of the comparison; brightness and contrast edits cancel in the correlation.

Pure functions: ``signature`` at scan time, ``distances`` when clustering looks for copies.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from photoface.engine.align import CROP_SIZE, TEMPLATE, similarity_transform

# Cells per side: 256 bytes per face. 8x8 cells cannot tell two press portraits apart (a bright
# face over a dark suit); 16x16 can (docs/people.md, "Near-copies").
CELLS = 16
SAMPLES = 4  # samples per cell side, averaged (a smaller copy samples the same region)
CONTEXT = 2.0  # the region's side, in aligned crops
# Fewer cells than this in both signatures (a copy cropped to the face) say nothing.
MIN_SHARED = CELLS * CELLS // 4
EMPTY = bytes(CELLS * CELLS)  # no cell known: what a face scanned before signatures compares as
NO_SIGNATURE = 2.0  # the distance of a pair the signatures cannot compare (the most there is)


def signature(image: Image.Image, landmarks: np.ndarray) -> bytes:
    """The ``CELLS`` x ``CELLS`` grey cells (1-255; 0: outside the photo) of the region around the
    face whose five ``landmarks`` (pixels of ``image``) are given, row by row."""
    side = CELLS * SAMPLES
    to_crop = np.vstack([similarity_transform(landmarks, TEMPLATE), [0, 0, 1]])
    scale = side / (CROP_SIZE * CONTEXT)
    to_region = np.array([[scale, 0, side / 2 - scale * CROP_SIZE / 2], [0, scale, side / 2 - scale * CROP_SIZE / 2]])
    inverse = np.linalg.inv(np.vstack([to_region @ to_crop, [0, 0, 1]]))[:2]
    region = image.transform(
        (side, side), Image.Transform.AFFINE, tuple(inverse.ravel()), resample=Image.Resampling.BILINEAR
    )
    grey = region.convert("L")  # after the cut: converting the whole photo would cost more than the cut
    cells = np.asarray(grey, np.float32).reshape(CELLS, SAMPLES, CELLS, SAMPLES).mean(axis=(1, 3))
    inside = _inside(inverse, side, image.size).reshape(CELLS, SAMPLES, CELLS, SAMPLES).all(axis=(1, 3))
    return np.where(inside, np.clip(np.rint(cells), 1, 255), 0).astype(np.uint8).tobytes()


def _inside(inverse: np.ndarray, side: int, size: tuple[int, int]) -> np.ndarray:
    """Which of the side x side samples map into the photo."""
    centres = np.arange(side) + 0.5
    x, y = np.meshgrid(centres, centres)
    source_x = inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]
    source_y = inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]
    return (source_x >= 0) & (source_x < size[0]) & (source_y >= 0) & (source_y < size[1])


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - the correlation of each row pair of signatures ((M, CELLS * CELLS) uint8) over the
    cells both have: 0 for the same shot, up to 2; ``NO_SIGNATURE`` where they share under
    ``MIN_SHARED`` cells or either is flat there."""
    complete = (a > 0).all(axis=1) & (b > 0).all(axis=1)
    result = np.empty(len(a), np.float32)
    result[complete] = _complete(a[complete], b[complete])  # most faces: no cell outside the photo
    partial = ~complete
    result[partial] = _shared(a[partial], b[partial])
    return result


def _complete(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, y = a.astype(np.float32), b.astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    y -= y.mean(axis=1, keepdims=True)
    return _one_minus_correlation(x, y, np.full(len(a), a.shape[1]))


def _shared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    shared = (a > 0) & (b > 0)
    count = shared.sum(axis=1)
    x, y = np.where(shared, a, 0).astype(np.float32), np.where(shared, b, 0).astype(np.float32)
    safe = np.maximum(count, 1)[:, None]
    x = np.where(shared, x - x.sum(axis=1, keepdims=True) / safe, 0)
    y = np.where(shared, y - y.sum(axis=1, keepdims=True) / safe, 0)
    return _one_minus_correlation(x, y, count)


def _one_minus_correlation(x: np.ndarray, y: np.ndarray, count: np.ndarray) -> np.ndarray:
    """For rows centred on the cells they share (zero elsewhere), of ``count`` such cells."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x) * np.einsum("ij,ij->i", y, y))
    usable = (count >= MIN_SHARED) & (norms > count)  # flat: under one grey level apart
    correlation = np.einsum("ij,ij->i", x, y) / np.where(usable, norms, 1)
    return np.where(usable, 1 - correlation, NO_SIGNATURE)
