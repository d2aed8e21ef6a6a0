"""Names in and out of the catalog through XMP face regions (``photoface.regions``).

Import: a named region read from a photo or its sidecar is matched to the detected face it
covers, and that face gets the name as a manual decision (the person is found by name or
created). Export: the named faces of each photo are written to its sidecar as MWG (and
Microsoft) regions, other tools' regions kept, nothing else in the file touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photoface.catalog import Catalog, printable
from photoface.regions import (
    MAX_XMP_BYTES,
    PHOTOFACE,
    SIDECAR_STYLES,
    Region,
    RegionError,
    distinct,
    embedded_xmp,
    foreign_regions,
    iou,
    parse_xmp,
    read_regions,
    regions_description,
    sidecar_path,
    sidecars,
    updated_sidecar,
    write_atomically,
)

MATCH_IOU = 0.3  # a region and a detected face overlapping this much are the same face


@dataclass
class RegionImport:
    photos: int = 0  # photos that held named regions
    named: int = 0  # faces given a name from a region
    already: int = 0  # faces that already had that name
    conflicts: list[str] = field(default_factory=list)  # a region naming a face you placed otherwise
    unmatched: list[str] = field(default_factory=list)  # a named region where no face was detected
    skipped: list[str] = field(default_factory=list)  # unreadable XMP or regions, with the reason


@dataclass
class RegionExport:
    written: list[str] = field(default_factory=list)  # sidecars written (or that would be, dry run)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # sidecars left alone, with the reason


def import_regions(catalog: Catalog, paths: Iterable[str] | None = None, roots: Sequence[Path] = ()) -> RegionImport:
    """Read the regions of these photos (or of every catalogued photo under ``roots``) and name
    the faces they cover."""
    report = RegionImport()
    for photo in catalog.photos_for_regions(paths, roots):
        regions = _photo_regions(Path(photo["path"]), photo, report)
        if not regions:
            continue
        report.photos += 1
        with catalog.transaction():
            _name_faces(catalog, photo, regions, report)
    return report


def _photo_regions(path: Path, photo: dict, report: RegionImport) -> list[Region]:
    upright, orientation = (photo["width"], photo["height"]), photo["orientation"]
    found: list[Region] = []
    for source, read in [(path, embedded_xmp), *((car, _read_sidecar) for car in sidecars(path))]:
        try:
            packet = read(source)
            if packet:
                regions, problems = read_regions(packet, upright, orientation)
                found = distinct(found + regions)
                report.skipped += [f"{printable(source)}: {problem}" for problem in problems]
        except (RegionError, OSError, ValueError, SyntaxError) as exc:
            report.skipped.append(f"{printable(source)}: {exc}")
    return found


def _read_sidecar(path: Path) -> bytes:
    if path.is_dir():
        raise RegionError("is a directory, not a sidecar")
    if path.stat().st_size > MAX_XMP_BYTES:
        raise RegionError(f"sidecar of {path.stat().st_size:,} bytes is over the {MAX_XMP_BYTES:,}-byte limit")
    return path.read_bytes()


def _name_faces(catalog: Catalog, photo: dict, regions: list[Region], report: RegionImport) -> None:
    """Each region to the face it overlaps most (each face once), named as a manual decision."""
    faces = catalog.faces(photo=photo["path"])
    overlaps = [(iou(r.box, tuple(f["box"])), i, j) for i, r in enumerate(regions) for j, f in enumerate(faces)]
    taken_regions, taken_faces = set(), set()
    for overlap, i, j in sorted(overlaps, reverse=True):
        if overlap < MATCH_IOU or i in taken_regions or j in taken_faces:
            continue
        taken_regions.add(i)
        taken_faces.add(j)
        region, face = regions[i], faces[j]
        if region.name.isdigit():  # photoface reads a number as a person id
            report.skipped.append(f"{printable(photo['path'])}: region name {region.name!r} is only digits")
            continue
        owner = catalog.person_by_name(region.name)
        person = owner["id"] if owner else catalog.create_person(region.name)
        if face["person"] == person:
            report.already += 1
        elif face["assigned"] == "manual" and face["person"] is not None:
            report.conflicts.append(
                f"{printable(photo['path'])}: the region names face {face['id']} {region.name!r}, "
                f"but you placed it with person {face['person']}; kept"
            )
            continue
        else:
            report.named += 1
        catalog.forget_rejections([face["id"]], person)
        catalog.assign_faces([face["id"]], person)
    for i, region in enumerate(regions):
        if i not in taken_regions:
            report.unmatched.append(f"{printable(photo['path'])}: no face found where the region names {region.name!r}")


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
        others = foreign_regions(existing, upright, orientation) if existing is not None else []
        keep = [r for r in others if not any(iou(r.box, mine.box) > MATCH_IOU for mine in ours)]
        regions = ours + keep  # none left: photoface's old regions are removed, nothing added
        text = updated_sidecar(existing, regions_description(regions, upright, orientation) if regions else "")
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


def _existing_text(path: Path) -> str | None:
    """The sidecar's text, or None when there is none; a sidecar that cannot be read completely
    (a directory, too big, not UTF-8, not XML) raises, so nothing is written over it."""
    if not path.exists() and not path.is_symlink():
        return None
    data = _read_sidecar(path)
    text = data.decode("utf-8")
    parse_xmp(data)
    return text


def regions_under(catalog: Catalog, roots: Sequence[Path]) -> RegionImport:
    """``photoface regions import DIR...``: every catalogued photo under the folders."""
    roots = [Path(root).absolute() for root in roots]
    missing = [root for root in roots if not root.exists()]
    if missing:
        raise RegionError(f"{missing[0]} does not exist: check the path")
    return import_regions(catalog, roots=roots)
