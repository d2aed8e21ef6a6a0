"""Defaults and ``PHOTOFACE_*`` environment overrides, in one place."""

from __future__ import annotations

import os
from pathlib import Path

# MTCNN (Zhang et al. 2016): the published thresholds and pyramid factor.
MIN_FACE = 20
PYRAMID_FACTOR = 0.709
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)

# Photos are detected on a copy whose longer side is at most this many pixels; boxes are
# mapped back to full resolution. Large JPEGs are decoded at reduced scale to reach it.
MAX_DETECTION_SIDE = 1600

# Refuse images above this many pixels (decompression bombs) before decoding them.
MAX_IMAGE_PIXELS = 200_000_000

# Intra-op threads per onnxruntime session; the machines we target have 2 cores.
THREADS = min(2, os.cpu_count() or 1)

MODELS_ENV = "PHOTOFACE_MODELS"


def models_dir_override() -> Path | None:
    value = os.environ.get(MODELS_ENV)
    return Path(value).expanduser() if value else None
