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


# Videos (photoface/media/video.py, photoface/media/tracks.py); measurements in docs/video.md.
# Seconds between the frames of a video that are analysed.
VIDEO_SAMPLE_INTERVAL = 0.5
# Longer side of the frames a video is analysed at: keeps a 1080p video's faces from 50 px.
VIDEO_MAX_SIDE = 960
# FFmpeg decoder options for the analysis pass (frame_at, for frames people see, uses none):
# no deblocking filter and FFmpeg's non-conforming shortcuts. 1080p H.264 decodes in about half
# the CPU time and track embeddings move by at most 0.01 (squared distance).
VIDEO_DECODER_OPTIONS = {"skip_loop_filter": "all", "flags2": "fast"}
# Frames the engine analyses in one batch: bounds a video's memory to a few frames.
VIDEO_BATCH_FRAMES = 4
# Largest frame a video may have: 8K (8192x4320), the most H.264 and HEVC levels allow; the
# decoder keeps several reference frames of this size, so the limit is lower than a photo's.
MAX_VIDEO_PIXELS = 8192 * 4320
# A video's analysis gives up after this floor plus this many seconds per second of video.
VIDEO_TIME_FLOOR = 60.0
VIDEO_TIME_PER_SECOND = 2.0
# Linking faces into tracks: a face may go unseen this many seconds and continue its track.
VIDEO_TRACK_GAP = 1.5
# A face continues a track when its box overlaps the track's last box by this IoU and its
# embedding is within VIDEO_TRACK_NEAR (squared distance) of the track's last face or of the
# mean of its last VIDEO_TRACK_RECENT faces, or, having moved, within VIDEO_TRACK_FAR: the clustering's
# same-person distance (1.0) and its "sure" distance (0.65).
VIDEO_TRACK_IOU = 0.3
VIDEO_TRACK_NEAR = 1.0
VIDEO_TRACK_FAR = 0.65
VIDEO_TRACK_RECENT = 5
# A track's embedding is the mean of its clearest faces' (score x size), this many.
VIDEO_TRACK_MEAN_OF = 5
# A track found in one sampled frame only is kept when its detection score reaches this.
VIDEO_TRACK_SINGLE_SCORE = 0.95
