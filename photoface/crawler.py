"""Walk photo folders: which image files exist, with their size and mtime. No models, no SQL."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"})


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkError:
    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def walk(roots: Sequence[Path], *, include_hidden: bool = False) -> Iterator[FileEntry | WalkError]:
    """Every image file under ``roots`` (sorted, depth first), once.

    Symbolic links are followed, but each directory is entered once (by device and inode),
    so a link loop or two links to one folder never repeat files. Unreadable folders are
    reported as ``WalkError`` and skipped.
    """
    seen_dirs: set[tuple[int, int]] = set()
    for root in map(os.path.abspath, roots):
        if os.path.isfile(root):  # a single photo named on the command line
            info = os.stat(root)
            yield FileEntry(root, info.st_size, info.st_mtime_ns)
        else:
            yield from _walk_dir(root, seen_dirs, include_hidden)


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
    for entry in entries:
        if not include_hidden and entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                subdirs.append(entry.path)
            elif is_image_name(entry.name):
                info = entry.stat()  # follows links; raises for a dangling one
                if stat.S_ISREG(info.st_mode):
                    yield FileEntry(entry.path, info.st_size, info.st_mtime_ns)
        except OSError as exc:  # a dangling link, a file vanishing mid-walk
            reason = "broken symbolic link" if entry.is_symlink() else f"cannot stat file ({exc.strerror or exc})"
            yield WalkError(entry.path, reason)
    for subdir in subdirs:
        yield from _walk_dir(subdir, seen, include_hidden)
