"""Walk photo folders: which image and video files exist, with their size and mtime, and which
videos are the Live Photo clips of a photo beside them. No models, no SQL."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from photoface.media import RAW_SUFFIXES, is_video_name

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"})
IMAGE_SUFFIXES |= RAW_SUFFIXES  # camera RAW files (dng, cr2, nef, ...)
# A phone's Live Photo: the still (IMG_0001.HEIC or .JPG) and its clip (IMG_0001.MOV) side by side.
LIVE_PHOTO_STILLS = frozenset({".heic", ".heif", ".jpg", ".jpeg"})
LIVE_PHOTO_CLIP = ".mov"


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute
    size: int
    mtime_ns: int
    live_clip: str | None = None  # the Live Photo clip beside this photo (absolute), not walked on its own


@dataclass(frozen=True)
class WalkError:
    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def is_media_name(name: str) -> bool:
    """A photo or a video: what a scan looks at."""
    return is_image_name(name) or is_video_name(name)


def live_photo_clips(names: Sequence[str]) -> dict[str, str]:
    """Among the file names of one folder: each Live Photo still's name -> its clip's name (same
    stem, any case of the suffixes)."""
    clips = {}
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() == LIVE_PHOTO_CLIP:
            clips[stem] = name
    return {
        name: clips[stem]
        for name in names
        for stem, suffix in [os.path.splitext(name)]
        if suffix.lower() in LIVE_PHOTO_STILLS and stem in clips
    }


def walk(roots: Sequence[Path], *, include_hidden: bool = False) -> Iterator[FileEntry | WalkError]:
    """Every image and video file under ``roots`` (sorted, depth first), once; a Live Photo's clip
    comes as its photo's ``live_clip``, not as a file of its own.

    Symbolic links are followed, but each directory is entered once (by device and inode),
    so a link loop or two links to one folder never repeat files. Unreadable folders are
    reported as ``WalkError`` and skipped.
    """
    seen_dirs: set[tuple[int, int]] = set()
    for root in map(os.path.abspath, roots):
        if os.path.isfile(root):  # a single photo named on the command line
            info = os.stat(root)
            yield FileEntry(root, info.st_size, info.st_mtime_ns, _clip_beside(root))
        else:
            yield from _walk_dir(root, seen_dirs, include_hidden)


def _clip_beside(path: str) -> str | None:
    """The Live Photo clip of the photo at ``path``, found in its folder, if any."""
    folder, name = os.path.split(path)
    try:
        clip = live_photo_clips(os.listdir(folder)).get(name)
    except OSError:  # the folder cannot be listed: no clip known
        return None
    return os.path.join(folder, clip) if clip is not None else None


def _walk_dir(path: str, seen: set[tuple[int, int]], include_hidden: bool) -> Iterator[FileEntry | WalkError]:
    try:
        info = os.stat(path)
        if (info.st_dev, info.st_ino) in seen:
            return
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        yield WalkError(path, f"cannot read folder ({exc.strerror or exc})")
        return
    subdirs = []
    entries = [entry for entry in entries if include_hidden or not entry.name.startswith(".")]
    clips = live_photo_clips([entry.name for entry in entries])
    attached = set(clips.values())
    for entry in entries:
        try:
            if entry.is_dir():
                subdirs.append(entry.path)
            elif is_media_name(entry.name) and entry.name not in attached:
                info = entry.stat()  # follows links; raises for a dangling one
                clip = os.path.join(path, clips[entry.name]) if entry.name in clips else None
                if stat.S_ISREG(info.st_mode):
                    yield FileEntry(entry.path, info.st_size, info.st_mtime_ns, clip)
        except OSError as exc:  # a dangling link, a file vanishing mid-walk
            reason = "broken symbolic link" if entry.is_symlink() else f"cannot stat file ({exc.strerror or exc})"
            yield WalkError(entry.path, reason)
    for subdir in subdirs:
        yield from _walk_dir(subdir, seen, include_hidden)
