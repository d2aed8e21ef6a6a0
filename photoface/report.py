"""Pictures for people to look at: contact sheets of a person's faces, annotated photos. A video's
face is shown on the frame of its track that the box is from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from photoface import config
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage, load_image

TILE = 128
LABEL = 18
COLUMNS = 8


def face_thumbnail(path: str, box: Sequence[float], size: int = TILE, frame: float | None = None) -> Image.Image:
    """The face at ``box`` (upright full-resolution pixels) with some context, size x size; in a
    video, on the frame at ``frame`` seconds."""
    return crop_face(load_still(path, frame), box, size)


def load_still(path: str, frame: float | None, max_side: int | None = config.MAX_DETECTION_SIDE) -> LoadedImage:
    """The photo at ``path``, or (``frame`` seconds given) that frame of the video: upright, its
    longer side at most ``max_side``. Raises ``ImageLoadError``."""
    if frame is None:
        return load_image(path, max_side)
    from photoface.media.video import frame_at  # PyAV loads only where a video's frame is shown

    return frame_at(path, frame, max_side)


def clock(seconds: float) -> str:
    """A time in a video as people read it: ``0:07``, ``12:30``, ``1:02:03``."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}:{rest:02d}"


def crop_face(loaded: LoadedImage, box: Sequence[float], size: int = TILE) -> Image.Image:
    """``face_thumbnail`` on a photo already loaded (upright, possibly reduced)."""
    x, y, w, h = (v / loaded.scale for v in box)
    side = max(w, h) * 1.4
    cx, cy = x + w / 2, y + h / 2
    region = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    return loaded.image.crop(tuple(round(v) for v in region)).resize((size, size), Image.Resampling.LANCZOS)


def contact_sheet(faces: Sequence[dict], output: Path, *, limit: int = 60) -> Path:
    """A grid of face thumbnails, clearest (score x size) first, each labelled with its face id."""
    if not faces:
        raise PhotofaceError("this person has no faces to show")
    chosen = sorted(faces, key=lambda face: -face["score"] * face["size"])[:limit]
    rows = math.ceil(len(chosen) / COLUMNS)
    sheet = Image.new("RGB", (min(len(chosen), COLUMNS) * TILE, rows * (TILE + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for number, face in enumerate(chosen):
        left, top = (number % COLUMNS) * TILE, (number // COLUMNS) * (TILE + LABEL)
        try:
            sheet.paste(face_thumbnail(face["photo"], face["box"], frame=face.get("frame")), (left, top))
        except ImageLoadError:
            draw.rectangle((left, top, left + TILE - 1, top + TILE - 1), fill="#ccc")  # the photo is gone
        at = f" at {clock(face['frame'])}" if face.get("frame") is not None else ""
        draw.text((left + 4, top + TILE + 2), f"face {face['id']}{at}", fill="black", font=font)
    return _save(sheet, output)


def annotate(photo: Path, faces: Sequence[dict], output: Path) -> Path:
    """A copy of ``photo`` with each face's box and name (or "unknown") drawn on it."""
    image = load_image(photo, max_side=None).image.copy()
    label_faces(image, faces)
    return _save(image, output)


def label_faces(image: Image.Image, faces: Sequence[dict]) -> None:
    """Draw each face's box (in ``image``'s pixels) and name, or "unknown", on ``image``."""
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(image.size) / 60)))
    for face in faces:
        x, y, w, h = face["box"]
        colour = "#2ecc40" if face.get("person") is not None else "#ff851b"
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=width)
        draw.text((x, y + h + width), face["name"] or _unnamed(face.get("person")), fill=colour, font=font)


def _save(image: Image.Image, output: Path) -> Path:
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        image.save(output, quality=90)
    except (OSError, ValueError) as exc:
        raise PhotofaceError(f"cannot write {output} ({exc}): choose another -o path (.jpg or .png)") from exc
    return output


def _unnamed(person: int | None) -> str:
    return "unknown" if person is None else f"person {person}"
