"""Pictures for people to look at: contact sheets of a person's faces, annotated photos."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from photoface.errors import ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage, load_image

TILE = 128
LABEL = 18
COLUMNS = 8


def face_thumbnail(path: str, box: Sequence[float], size: int = TILE) -> Image.Image:
    """The face at ``box`` (upright full-resolution pixels) with some context, size x size."""
    return crop_face(load_image(path), box, size)


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
            sheet.paste(face_thumbnail(face["photo"], face["box"]), (left, top))
        except ImageLoadError:
            draw.rectangle((left, top, left + TILE - 1, top + TILE - 1), fill="#ccc")  # the photo is gone
        draw.text((left + 4, top + TILE + 2), f"face {face['id']}", fill="black", font=font)
    return _save(sheet, output)


def annotate(photo: Path, faces: Sequence[dict], output: Path) -> Path:
    """A copy of ``photo`` with each face's box and name (or "unknown") drawn on it."""
    image = load_image(photo, max_side=None).image.copy()
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(image.size) / 60)))
    for face in faces:
        x, y, w, h = face["box"]
        colour = "#2ecc40" if face.get("person") is not None else "#ff851b"
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=width)
        draw.text((x, y + h + width), face["name"] or _unnamed(face.get("person")), fill=colour, font=font)
    return _save(image, output)


def _save(image: Image.Image, output: Path) -> Path:
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        image.save(output, quality=90)
    except (OSError, ValueError) as exc:
        raise PhotofaceError(f"cannot write {output} ({exc}): choose another -o path (.jpg or .png)") from exc
    return output


def _unnamed(person: int | None) -> str:
    return "unknown" if person is None else f"person {person}"
