"""Names in and out of the catalog through XMP face regions (``photoface.regions``).

Import: a named region read from a photo or its sidecar is placed on the upright photo in the
reading that puts the source's regions on detected faces (tools disagree on the frame, see
``photoface.regions``), matched to the detected face it covers, and that face gets the name as
a manual decision (the person is found by name or created). A region over no detected face
becomes a face of its own: found by looking again inside it, else made from its box.

Export: the named faces of each photo are written to its sidecar as MWG (and Microsoft)
regions, other tools' regions kept, nothing else in the file touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photoface.catalog import Catalog, printable
from photoface.errors import ImageLoadError
from photoface.regions import (
    MATCH_IOU,
    MAX_XMP_BYTES,
    PHOTOFACE,
    SIDECAR_STYLES,
    Box,
    Reading,
    Region,
    RegionError,
    StatedRegions,
    choose_reading,
    dims_frame,
    distinct,
    embedded_xmp,
    foreign_regions,
    iou,
    match,
    parse_xmp,
    people_keywords,
    place,
    read_stated,
    readings,
    regions_description,
    sidecar_path,
    sidecars,
    stored_size,
    their_keywords,
    updated_sidecar,
    with_keywords,
    without_keywords,
    write_atomically,
)

if TYPE_CHECKING:  # the engine (onnxruntime) loads only when a region needs a face made
    from PIL import Image

    from photoface.engine import FaceEngine
    from photoface.engine.boxed import BoxedFace

log = logging.getLogger(__name__)

ORIGIN_FOUND = "region"  # a face the detector found when it looked again inside a region
ORIGIN_BOX = "region box"  # a face made from a region's box: nothing found there
MAX_LOOKS = 20  # regions looked into per reading when no reading puts any on a detected face
DIMS_SAY = {  # what AppliedToDimensions say, for the --debug line
    "missing": "missing",
    "stored": "of the stored image's aspect",
    "transposed": "of the stored image's aspect turned a quarter",
    "other": "of another aspect",
}
EngineSource = Callable[[], "FaceEngine"]  # made on first need: most photos need no model


@dataclass
class RegionImport:
    photos: int = 0  # photos that held named regions
    named: int = 0  # faces given a name from a region (found_in_region and made_from_box too)
    already: int = 0  # faces that already had that name
    found_in_region: int = 0  # faces the scan missed, found by looking again inside the region
    made_from_box: int = 0  # faces made from a region's box: no face could be found in it
    conflicts: list[str] = field(default_factory=list)  # a region naming a face you placed otherwise
    unmatched: list[str] = field(default_factory=list)  # a named region that could not become a face
    skipped: list[str] = field(default_factory=list)  # unreadable XMP or regions, with the reason


@dataclass
class RegionExport:
    written: list[str] = field(default_factory=list)  # sidecars written (or that would be, dry run)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # sidecars left alone, with the reason


def import_regions(
    catalog: Catalog,
    paths: Iterable[str] | None = None,
    roots: Sequence[Path] = (),
    engine: EngineSource | None = None,
) -> RegionImport:
    """Read the regions of these photos (or of every catalogued photo under ``roots``) and name
    the faces they cover. With an ``engine``, a region over no detected face becomes a face of
    its own (``photoface.engine.boxed``); without one it is reported as unmatched."""
    report = RegionImport()
    looker = _Looker(engine)
    for photo in catalog.photos_for_regions(paths, roots):
        stated = _photo_regions(photo, report)
        if not any(found.regions for _, found in stated):
            continue
        report.photos += 1
        faces = catalog.faces(photo=photo["path"])
        regions = _placed(photo, stated, [tuple(face["box"]) for face in faces], looker)
        _name_faces(catalog, photo, faces, regions, report=report, looker=looker)
    return report


class _Looker:
    """The engine and one photo's upright pixels, each loaded on first need."""

    def __init__(self, engine: EngineSource | None) -> None:
        self._source = engine
        self._engine: FaceEngine | None = None
        self._path: str | None = None
        self._image: Image.Image | None = None

    @property
    def available(self) -> bool:
        return self._source is not None

    def engine(self) -> FaceEngine:
        if self._engine is None:
            if self._source is None:
                raise RegionError("no engine to make faces from regions with")
            self._engine = self._source()
        return self._engine

    def image(self, path: str) -> Image.Image:
        """The photo upright at full resolution (the frame region boxes are in)."""
        if self._path != path:
            from photoface.imageio import load_image

            self._path, self._image = path, load_image(path, None).image
        return self._image

    def found(self, path: str, box: Box) -> bool:
        from photoface.engine.boxed import detect_in_box

        return detect_in_box(self.engine(), self.image(path), box) is not None

    def face(self, path: str, box: Box) -> BoxedFace:
        from photoface.engine.boxed import face_in_box

        return face_in_box(self.engine(), self.image(path), box)


def _photo_regions(photo: dict, report: RegionImport) -> list[tuple[Path, StatedRegions]]:
    """What the photo and each of its sidecars state, source by source: each may come from
    another tool, with its own convention."""
    path, size = Path(photo["path"]), stored_size((photo["width"], photo["height"]), photo["orientation"])
    found = []
    for source, read in [(path, embedded_xmp), *((car, _read_sidecar) for car in sidecars(path))]:
        try:
            packet = read(source)
            if packet:
                stated = read_stated(packet, size)
                found.append((source, stated))
                report.skipped += [f"{printable(source)}: {problem}" for problem in stated.skipped]
        except (RegionError, OSError, ValueError, SyntaxError) as exc:
            report.skipped.append(f"{printable(source)}: {exc}")
    return found


def _placed(photo: dict, stated: list[tuple[Path, StatedRegions]], faces: list[Box], looker: _Looker) -> list[Region]:
    """Every source's regions on the upright photo, each source in the reading that puts its
    regions on the detected faces (said with --debug)."""
    upright, orientation = (photo["width"], photo["height"]), photo["orientation"]
    placed: list[Region] = []
    for source, found in stated:
        if not found.regions:
            continue
        options = readings(found.dims, upright, orientation, found.orientation)
        reading, hits = choose_reading(found.regions, options, upright, faces)
        how = f"{hits} of {len(found.regions)} on detected faces"
        if hits == 0 and len(options) > 1 and looker.available:
            reading, how = _by_looking(photo, found, options, looker)
        log.info(
            "%s: regions read as %s (EXIF orientation %s, XMP orientation %s, AppliedToDimensions %s; %s)",
            printable(source),
            reading.label,
            orientation,
            found.orientation or "not stated",
            DIMS_SAY[dims_frame(found.dims, stored_size(upright, orientation))],
            how,
        )
        placed += [place(region, reading, upright) for region in found.regions]
    return distinct(placed)


def _by_looking(photo: dict, found: StatedRegions, options: list[Reading], looker: _Looker) -> tuple[Reading, str]:
    """No reading puts a region on a detected face (faces the scan missed): the reading under
    whose regions looking again finds most faces; the likeliest when it finds none."""
    upright = (photo["width"], photo["height"])
    regions = found.regions[:MAX_LOOKS]
    best, best_found = options[0], 0
    try:
        for option in options:
            hits = sum(looker.found(photo["path"], place(region, option, upright).box) for region in regions)
            if hits > best_found:
                best, best_found = option, hits
    except (ImageLoadError, OSError) as exc:
        log.info("%s: could not look inside regions: %s", printable(photo["path"]), exc)
    return best, f"none on detected faces; looking again found {best_found} of {len(regions)}"


def _read_sidecar(path: Path) -> bytes:
    if path.is_dir():
        raise RegionError("is a directory, not a sidecar")
    if path.stat().st_size > MAX_XMP_BYTES:
        raise RegionError(f"sidecar of {path.stat().st_size:,} bytes is over the {MAX_XMP_BYTES:,}-byte limit")
    return path.read_bytes()


def _name_faces(
    catalog: Catalog, photo: dict, faces: list[dict], regions: list[Region], *, report: RegionImport, looker: _Looker
) -> None:
    """Each region to the face it overlaps most (each face once), named as a manual decision;
    a region over no face gets a face of its own. The model runs before the transaction, so a
    write lock is never held while it works."""
    where = printable(photo["path"])
    usable = []
    for region in regions:
        if region.name.isdigit():  # photoface reads a number as a person id
            report.skipped.append(f"{where}: region name {region.name!r} is only digits")
        else:
            usable.append(region)
    pairs = match([r.box for r in usable], [tuple(f["box"]) for f in faces], MATCH_IOU)
    matched = {i: faces[j] for i, j, _ in pairs}
    made = _new_faces(photo, [(i, r) for i, r in enumerate(usable) if i not in matched], report, looker)
    model = looker.engine().model_id if made else ""
    with catalog.transaction():
        for i, face in matched.items():
            _name_face(catalog, where, usable[i].name, face, report)
        for i, boxed in made.items():
            origin = ORIGIN_FOUND if boxed.detected else ORIGIN_BOX
            face_id = catalog.add_face(photo["id"], boxed.face, model, origin)
            report.found_in_region += boxed.detected
            report.made_from_box += not boxed.detected
            _name_face(catalog, where, usable[i].name, {"id": face_id, "person": None, "assigned": None}, report)


def _new_faces(
    photo: dict, missing: list[tuple[int, Region]], report: RegionImport, looker: _Looker
) -> dict[int, BoxedFace]:
    """A face for each region over no detected face, or the reason it has none."""
    where = printable(photo["path"])
    if not looker.available:
        report.unmatched += [f"{where}: no face found where the region names {r.name!r}" for _, r in missing]
        return {}
    made = {}
    for i, region in missing:
        try:
            made[i] = looker.face(photo["path"], region.box)
        except (ImageLoadError, OSError) as exc:
            report.unmatched.append(f"{where}: no face made where the region names {region.name!r}: {exc}")
    return made


def _name_face(catalog: Catalog, where: str, name: str, face: dict, report: RegionImport) -> None:
    owner = catalog.person_by_name(name)
    person = owner["id"] if owner else catalog.create_person(name)
    if face["person"] == person:
        report.already += 1
    elif face["assigned"] == "manual" and face["person"] is not None:
        report.conflicts.append(
            f"{where}: the region names face {face['id']} {name!r}, "
            f"but you placed it with person {face['person']}; kept"
        )
        return
    else:
        report.named += 1
    catalog.forget_rejections([face["id"]], person)
    catalog.assign_faces([face["id"]], person, confirmed=False)  # another tool's name, not an answer here


def export_regions(
    catalog: Catalog, people: Sequence[str] | None = None, *, style: str = "darktable", dry_run: bool = False
) -> RegionExport:
    """Write the named faces of each photo to its sidecar (``style``: darktable/digiKam
    ``photo.jpg.xmp`` or Adobe ``photo.xmp``). A sidecar that cannot be read completely is
    left alone; nothing but region lists changes in one that exists."""
    from photoface.people import resolve

    if style not in SIDECAR_STYLES:
        raise RegionError(f"unknown sidecar style {style!r}: use {' or '.join(SIDECAR_STYLES)}")
    only = {resolve(catalog, name)["id"] for name in people} if people else None
    report = RegionExport()
    named = catalog.named_faces_by_photo(only)
    for photo in named:
        _export_photo(photo, style, dry_run, report)
    if only is None:  # photos whose names are all gone: the regions photoface wrote go too
        done = {photo["path"] for photo in named}
        for photo in catalog.photo_frames():
            if photo["path"] not in done and _has_our_regions(sidecar_path(Path(photo["path"]), style)):
                _export_photo({**photo, "faces": []}, style, dry_run, report)
    return report


def _has_our_regions(path: Path) -> bool:
    try:
        return path.is_file() and PHOTOFACE.encode() in path.read_bytes()[:MAX_XMP_BYTES]
    except OSError:
        return False


def _export_photo(photo: dict, style: str, dry_run: bool, report: RegionExport) -> None:
    path = Path(photo["path"])
    target = sidecar_path(path, style)
    upright, orientation = (photo["width"], photo["height"]), photo["orientation"]
    ours = [Region(face["name"], tuple(face["box"])) for face in photo["faces"]]
    try:
        existing = _existing_text(target)
        mine = [region.box for region in ours]
        others = foreign_regions(existing, upright, orientation, mine) if existing is not None else []
        keep = [r for r in others if not any(iou(r.box, mine.box) > MATCH_IOU for mine in ours)]
        regions = ours + keep  # none left: photoface's old regions are removed, nothing added
        text = _new_text(existing, ours, regions, upright, orientation)
        parse_xmp(text.encode())  # what is written must read back
        if text == existing:
            report.unchanged += 1
            return
        if not dry_run:
            write_atomically(target, text)
    except (RegionError, OSError, UnicodeDecodeError) as exc:  # a read-only folder, a full disk
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        report.skipped.append(f"{printable(target)}: {reason}; left as it was")
        return
    report.written.append(printable(target))


def _new_text(
    existing: str | None, ours: list[Region], regions: list[Region], upright: tuple[int, int], orientation: int
) -> str:
    """The sidecar with photoface's description: the regions, and the people named in the photo
    as keywords beside the file's other keywords (carried into it as they were)."""
    theirs = their_keywords(existing) if existing is not None else {}
    description = regions_description(regions, upright, orientation) if regions else ""
    description = with_keywords(description, people_keywords([region.name for region in ours], theirs))
    base = without_keywords(existing) if existing is not None and description else existing
    return updated_sidecar(base, description)


def _existing_text(path: Path) -> str | None:
    """The sidecar's text, or None when there is none; a sidecar that cannot be read completely
    (a directory, too big, not UTF-8, not XML) raises, so nothing is written over it."""
    if not path.exists() and not path.is_symlink():
        return None
    data = _read_sidecar(path)
    text = data.decode("utf-8")
    parse_xmp(data)
    return text


def regions_under(catalog: Catalog, roots: Sequence[Path], engine: EngineSource | None = None) -> RegionImport:
    """``photoface regions import DIR...``: every catalogued photo under the folders."""
    roots = [Path(root).absolute() for root in roots]
    missing = [root for root in roots if not root.exists()]
    if missing:
        raise RegionError(f"{missing[0]} does not exist: check the path")
    return import_regions(catalog, roots=roots, engine=engine)
