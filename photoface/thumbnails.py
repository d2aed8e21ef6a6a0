"""Face thumbnails, made once and shared by the HTML report and ``photoface serve``.

They live beside the catalog in ``<catalog>.thumbs/`` (derived data: deleting the folder only
costs the time to make them again). A thumbnail's name is ``<face id>-<key>.jpg``, where ``key``
hashes the photo's content hash and the face's box (and, for a video's face, the time of its
frame), so a face whose photo or box changed gets a new thumbnail and never shows a stale one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from photoface.errors import ImageLoadError, PhotofaceError
from photoface.report import crop_face, load_still

THUMB = 128  # pixels; pages show them at 112 or less
THUMB_STYLE = 1  # bump when the crop changes, so cached thumbnails are remade


def default_folder(catalog_path: Path) -> Path:
    """``<catalog>.thumbs`` beside the catalog; for a catalog on a read-only drive or folder, a
    folder of the system temp folder named after it (thumbnails are derived, made again)."""
    beside = catalog_path.with_name(catalog_path.name + ".thumbs")
    if os.access(beside if beside.exists() else catalog_path.parent, os.W_OK):
        return beside
    key = hashlib.blake2b(os.fsencode(catalog_path.absolute()), digest_size=6).hexdigest()
    return Path(tempfile.gettempdir()) / f"photoface-{key}.thumbs"


def thumbnail_name(face: dict) -> str:
    """``face`` holds ``id``, ``photo_hash``, ``box`` and ``frame_time`` (as the catalog stores them)."""
    box = tuple(face["box"])
    frame = f"|{face['frame_time']}" if face.get("frame_time") is not None else ""  # photos' names as they were
    key = hashlib.blake2b(f"{face['photo_hash']}|{box}|{THUMB_STYLE}{frame}".encode(), digest_size=5).hexdigest()
    return f"{face['id']}-{key}.jpg"


@dataclass
class Made:
    made: int = 0
    missing_photos: list[str] = field(default_factory=list)


class ThumbnailCache:
    """A folder of face thumbnails; ``ensure`` makes the missing ones with one decode per photo."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, face: dict) -> Path:
        return self.folder / thumbnail_name(face)

    def ensure(self, faces: Sequence[dict], workers: int = 2) -> Made:
        """Make the thumbnails of ``faces`` not in the folder yet. ``faces`` hold ``photo`` (a path)
        as well; a photo that cannot be read any more is reported, not raised. A video's faces are
        cut from their tracks' best frames, one decode per frame."""
        todo: dict[str, list[dict]] = defaultdict(list)
        for face in faces:
            if not self.path(face).exists():
                todo[face["photo"]].append(face)
        result = Made()
        if not todo:
            return result
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PhotofaceError(f"cannot create the thumbnail folder {self.folder} ({exc.strerror})") from exc
        with ThreadPoolExecutor(max(1, workers)) as pool:  # Pillow decodes and resizes without the GIL
            for photo, made in zip(todo, pool.map(lambda item: self._make(*item), todo.items()), strict=True):
                result.made += made
                if made == 0:
                    result.missing_photos.append(photo)
        return result

    def _make(self, photo: str, faces: list[dict]) -> int:
        frames: dict[float | None, list[dict]] = defaultdict(list)  # a photo's faces are all on one: None
        for face in faces:
            frames[face.get("frame_time")].append(face)
        made = 0
        for frame, shown in frames.items():
            try:
                loaded = load_still(photo, frame)
            except ImageLoadError:
                continue  # moved or deleted since the scan; the next scan will tell
            for face in shown:
                target = self.path(face)
                temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                crop_face(loaded, face["box"], THUMB).save(temporary, "JPEG", quality=85)
                os.replace(temporary, target)  # two makers of one thumbnail write the same bytes
            made += len(shown)
        return made

    def prune(self, keep: Iterable[str]) -> int:
        """Delete the thumbnails whose names are not in ``keep`` (faces gone or changed)."""
        wanted = set(keep)
        removed = 0
        for old in self.folder.glob("*.jpg"):
            if old.name not in wanted:
                old.unlink(missing_ok=True)
                removed += 1
        return removed
