"""A face a person draws: ``photoface add-face PHOTO X Y W H NAME`` names a face the scan's
detector missed (turned aside, in shadow, on an old print), so no name is ever lost for want
of a detection.

The box is in pixels of the upright, full-resolution photo, the frame of every stored face.
The detector looks again inside it (``photoface.engine.boxed``); where it still finds nothing
the face is made from the box. Either way the face is stored beside the scan's faces and given
to the person as a manual decision, so clustering keeps it there and it is found and exported
like any other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from photoface.catalog import Catalog, printable
from photoface.errors import PhotofaceError

if TYPE_CHECKING:  # the engine (onnxruntime) loads only once the input is known to be good
    from photoface.engine import FaceEngine

Box = tuple[float, float, float, float]  # x, y, w, h in pixels of the upright photo

ORIGIN_FOUND = "drawn"  # the detector found a face when it looked again inside a drawn box
ORIGIN_BOX = "drawn box"  # nothing found there: the face is made from the box itself


class DrawnFaceError(PhotofaceError):
    """A box, photo or name that cannot become a face; the message names the value."""


@dataclass(frozen=True)
class AddedFace:
    face: int
    person: int
    name: str
    detected: bool  # found by the detector inside the box, else made from the box
    created: bool  # the person is new, made for this name
    box: Box  # the stored face's box (the detection's, when one was found)

    @property
    def origin(self) -> str:
        return ORIGIN_FOUND if self.detected else ORIGIN_BOX


def add_face(catalog: Catalog, photo: str | Path, box: Box, person: str, engine: Callable[[], FaceEngine]) -> AddedFace:
    """Store the face in ``box`` of a catalogued ``photo`` and give it to ``person`` (an id, a
    name, or a name nobody has yet: a new person of that name). Everything is checked before
    the model loads and before anything is written, so bad input changes nothing."""
    from photoface.imageio import load_image
    from photoface.people import new_name, resolve

    row = _catalogued(catalog, photo)
    checked = _checked_box(box, (row["width"], row["height"]), printable(row["path"]))
    created = new_name(catalog, person)
    if created is None:
        resolve(catalog, person)  # an unknown id, or "new": refused now, with the usual hint
    model = engine()
    image = load_image(row["path"], None).image  # upright, full resolution: the box's frame
    _same_frame(image.size, row)
    from photoface.engine.boxed import face_in_box

    found = face_in_box(model, image, checked)  # before the transaction: no lock while it runs
    with catalog.transaction():
        owner = catalog.create_person(created) if created else resolve(catalog, person)["id"]
        origin = ORIGIN_FOUND if found.detected else ORIGIN_BOX
        face_id = catalog.add_face(row["id"], found.face, model.model_id, origin)
        catalog.assign_faces([face_id], owner, confirmed=True)  # drawn and named: the user's word
    name = created or resolve(catalog, str(owner))["name"] or ""
    return AddedFace(face_id, owner, name, found.detected, created is not None, tuple(found.face.box))


def _catalogued(catalog: Catalog, photo: str | Path) -> dict:
    """The analysed photo at ``photo`` (its id, path, upright size), or why there is none."""
    given = Path(photo)
    candidates = {str(given.absolute()), str(given.resolve())}
    rows = catalog.photos_for_regions(sorted(candidates))
    if rows:
        return rows[0]
    if not given.exists():
        raise DrawnFaceError(f"{printable(given)} does not exist: check the path")
    raise DrawnFaceError(f"{printable(given)} is not in the catalog: scan it first (photoface scan {printable(given)})")


def _checked_box(box: Box, size: tuple[int, int], where: str) -> Box:
    """The box, if it has a size and lies wholly inside the photo (a box half outside is a
    typo, not a face at the edge: the face there would be cut)."""
    x, y, w, h = box
    shown = f"{x:g} {y:g} {w:g} {h:g}"
    if not all(math.isfinite(v) for v in box) or w <= 0 or h <= 0:
        raise DrawnFaceError(f"box {shown} has no size: W and H must be more than 0")
    width, height = size
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise DrawnFaceError(f"box {shown} is outside {where}, which is {width} x {height} pixels upright")
    return (float(x), float(y), float(w), float(h))


def _same_frame(size: tuple[int, int], row: dict) -> None:
    """The file on disk must still be the photo the catalog measured, or the box means nothing."""
    if size != (row["width"], row["height"]):
        raise DrawnFaceError(f"{printable(row['path'])} changed since it was scanned: scan it again first")


def matching_profile(catalog: Catalog) -> str:
    """The scan profile whose embedding model made most of the catalog's faces: a drawn face is
    compared with faces of its own model (int8 and fp32 FaceNet fingerprints differ a little);
    the default profile for a catalog without faces."""
    from photoface import config
    from photoface.engine.models import FACENET_FILES, model_id

    by_model: dict[str, str] = {}
    for name in sorted(config.PROFILES, key=lambda name: name != config.DEFAULT_PROFILE):  # the default wins ties
        by_model.setdefault(model_id(FACENET_FILES[config.PROFILES[name].precision]), name)
    return next((by_model[m] for m in catalog.face_models() if m in by_model), config.DEFAULT_PROFILE)
