"""Phone-sized test photos with known face boxes: 4000x3000 JPEGs composed from real photos.

Each photo is one of the 9 hand-boxed group photos of ``../shared/data/groups``, upscaled
(bicubic) to fill 100%, 70% or 45% of a 4000x3000 frame whose background is one of the
no-face photos. The hand-drawn boxes are scaled and shifted with it, so recall is measured
against real labels, and the faces span what phones record: about 110 to 870 pixels across in
the 12-megapixel frame (group shots to close-ups). Quality 90, fixed random placement (seed 0).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from benchmarks.common import require_data
from benchmarks.datasets import read_face_boxes

PHONE_SIZE = (4000, 3000)
FILLS = (1.0, 0.7, 0.45)


def make_phone_photos(folder: Path, repeats: int = 1) -> dict[Path, np.ndarray]:
    """Write ``27 * repeats`` photos into ``folder``; returns photo -> true boxes (N, 4) x1 y1 x2 y2."""
    truth = sorted(read_face_boxes(require_data("groups")).items())
    backgrounds = sorted(require_data("nofaces").glob("*.jpg"))
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    photos = {}
    width, height = PHONE_SIZE
    for number, (_, (source, boxes), fill) in enumerate(itertools.product(range(repeats), truth, FILLS)):
        with Image.open(backgrounds[number % len(backgrounds)]) as background:
            canvas = ImageOps.fit(background.convert("RGB"), PHONE_SIZE, Image.Resampling.BICUBIC)
        with Image.open(source) as group:
            scale = fill * min(width / group.width, height / group.height)
            size = (round(group.width * scale), round(group.height * scale))
            pasted = group.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        x, y = int(rng.integers(0, width - size[0] + 1)), int(rng.integers(0, height - size[1] + 1))
        canvas.paste(pasted, (x, y))
        path = folder / f"phone-{number:03d}.jpg"
        canvas.save(path, quality=90)
        photos[path] = boxes * scale + np.array([x, y, x, y])
    return photos
