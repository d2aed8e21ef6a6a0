"""Media files that are not plain photos: videos (``video``), their face tracks (``tracks``) and
RAW camera files (``raw``). Each module opens one kind of file and gives back upright frames
as ``photoface.imageio.LoadedImage``, so the engine never knows where a frame came from.

The file names each kind answers to live here, so the crawler can tell files apart without
loading FFmpeg (PyAV) or LibRaw (rawpy).
"""

from __future__ import annotations

from pathlib import Path

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".3gp", ".avi", ".mkv", ".webm"})
RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"})


def is_video_name(name: str) -> bool:
    """Whether a file name has a video suffix, in any case."""
    return Path(name).suffix.lower() in VIDEO_SUFFIXES
