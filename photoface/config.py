"""Defaults and ``PHOTOFACE_*`` environment overrides, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# MTCNN (Zhang et al. 2016): the published thresholds and pyramid factor.
MIN_FACE = 20
PYRAMID_FACTOR = 0.709
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)

# Photos are detected on a copy whose longer side is at most this many pixels; boxes are
# mapped back to full resolution. Large JPEGs are decoded at reduced scale to reach it.
MAX_DETECTION_SIDE = 1600

# Refuse images above this many pixels (decompression bombs) before decoding them.
MAX_IMAGE_PIXELS = 200_000_000

# Full-size decodes (before reduction) running at once in all threads hold at most this much
# pixel memory; a larger one runs alone. Keeps a scan's peak under 1.5 GB whatever the files.
DECODE_MEMORY = 640 * 2**20

# Intra-op threads per onnxruntime session; the machines we target have 2 cores.
THREADS = min(2, os.cpu_count() or 1)

MODELS_ENV = "PHOTOFACE_MODELS"

Precision = Literal["fp32", "int8"]


@dataclass(frozen=True)
class Profile:
    """One documented trade of speed for recall and accuracy (measured numbers in docs/how-it-works.md)."""

    min_face: int  # smallest face found, in pixels of the detection image
    factor: float  # MTCNN pyramid factor: smaller means fewer, coarser scales
    precision: Precision  # FaceNet weights; CUDA always runs fp32
    flip: bool  # average each face's embedding with its mirror image's
    max_side: int  # detection image's longer side (big photos are decoded reduced)


PROFILES = {
    "fast": Profile(min_face=40, factor=0.6, precision="int8", flip=False, max_side=1280),
    "balanced": Profile(min_face=24, factor=0.6, precision="int8", flip=True, max_side=1280),
    "best": Profile(min_face=MIN_FACE, factor=PYRAMID_FACTOR, precision="fp32", flip=True, max_side=MAX_DETECTION_SIDE),
}
DEFAULT_PROFILE = "balanced"


def models_dir_override() -> Path | None:
    value = os.environ.get(MODELS_ENV)
    return Path(value).expanduser() if value else None


# Catalog backups kept beside it (photoface/backup.py); 0 turns the automatic ones off.
BACKUPS_ENV = "PHOTOFACE_BACKUPS"
DEFAULT_BACKUPS = 5


def backups_to_keep() -> int:
    from photoface.errors import PhotofaceError

    value = os.environ.get(BACKUPS_ENV, "").strip()
    if not value:
        return DEFAULT_BACKUPS
    if not value.isdigit():
        raise PhotofaceError(f"{BACKUPS_ENV}={value!r}: give how many backups to keep, a whole number (0: none)")
    return int(value)
