"""Face regions in XMP: the names other tools (digiKam, Lightroom, Picasa, Windows) stored in
photos and sidecars, read as our boxes; and our names written back in the same standards.

Three layers, top to bottom:

- geometry (pure): Metadata Working Group areas (normalised centre x/y and w/h of the image
  *as stored*) and Microsoft People Tagging rectangles (normalised top-left x/y, w/h, also of
  the stored image) to and from photoface's boxes (pixels of the upright, full-resolution
  photo), for all eight EXIF orientations. ACDSee areas are MWG's (centre x/y, normalised:
  exiftool's acdsee.config, whose MWG-to-ACDSee conversion copies the area unchanged); IPTC
  region boundaries are top-left x/y in relative or pixel units, turned into MWG areas;
- reading: an XMP packet (embedded, or a sidecar) parsed as untrusted XML (defusedxml: no
  DTD, no entities; a size limit), with the RDF shorthand forms tools use, into regions *as
  stated* (normalised areas, AppliedToDimensions if any);
- deciding the frame: tools disagree on whether areas and AppliedToDimensions describe the
  image as stored (the MWG guideline, Lightroom) or as shown, and some omit the dimensions.
  ``readings`` lists what a packet allows, likeliest first; ``choose_reading`` takes the one
  that puts the regions on the photo's detected faces (pure: boxes in, a reading out);
- writing: a sidecar updated as text. photoface writes its regions in an ``rdf:Description``
  of its own, marked so a later export replaces exactly it; every other byte of the file stays
  as it was, except region lists of other tools, whose regions are carried into ours (one
  region list per photo, as the standard wants).
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape, unescape
from itertools import chain, islice
from pathlib import Path
from xml.etree.ElementTree import Element

from photoface.errors import PhotofaceError

Box = tuple[float, float, float, float]  # x, y, w, h in upright full-resolution pixels

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
MP = "http://ns.microsoft.com/photo/1.2/"
MPRI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
MPREG = "http://ns.microsoft.com/photo/1.2/t/Region#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"  # xmp:Identifier, in IPTC's controlled vocabulary entries
ACDSEE_RS = "http://ns.acdsee.com/regions/"
ACDSEE_AREA = "http://ns.acdsee.com/sType/Area#"
ACDSEE_DIM = "http://ns.acdsee.com/sType/Dimensions#"
TIFF = "http://ns.adobe.com/tiff/1.0/"
PHOTOFACE = "https://photoface.example/ns/regions/1.0/"  # marks the description photoface wrote

MAX_XMP_BYTES = 4 * 2**20  # larger packets are refused unread (real ones are kilobytes)
MATCH_IOU = 0.3  # a region and a detected face overlapping this much are the same face
SIDECAR_STYLES = ("darktable", "adobe")  # photo.jpg.xmp (digiKam, darktable, Immich) or photo.xmp (Lightroom)


@dataclass(frozen=True)
class Region:
    """A named face region, in photoface's frame."""

    name: str
    box: Box


class RegionError(PhotofaceError):
    """XMP that cannot be read as regions, or a sidecar that cannot be written; the message
    says why (it is the user's to see)."""


# ---------------------------------------------------------------- geometry
def _to_upright(u: float, v: float, orientation: int) -> tuple[float, float]:
    """A normalised point of the stored image, in the upright image (EXIF orientation applied)."""
    return {
        1: (u, v),
        2: (1 - u, v),
        3: (1 - u, 1 - v),
        4: (u, 1 - v),
        5: (v, u),
        6: (1 - v, u),
        7: (1 - v, 1 - u),
        8: (v, 1 - u),
    }.get(orientation, (u, v))


def _to_stored(u: float, v: float, orientation: int) -> tuple[float, float]:
    """The inverse of ``_to_upright``."""
    inverse = {6: 8, 8: 6}.get(orientation, orientation)  # the others are their own inverses
    return _to_upright(u, v, inverse)


def _swaps(orientation: int) -> bool:
    return orientation in (5, 6, 7, 8)


def stored_size(upright: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (upright[1], upright[0]) if _swaps(orientation) else upright


def area_to_box(area: tuple[float, float, float, float], upright: tuple[int, int], orientation: int) -> Box:
    """An MWG area (centre x, y, w, h, normalised to the stored image) as our box."""
    cx, cy, w, h = area
    ux, uy = _to_upright(cx, cy, orientation)
    uw, uh = (h, w) if _swaps(orientation) else (w, h)
    width, height = upright
    return ((ux - uw / 2) * width, (uy - uh / 2) * height, uw * width, uh * height)


def box_to_area(box: Box, upright: tuple[int, int], orientation: int) -> tuple[float, float, float, float]:
    """Our box as an MWG area of the stored image (centre x, y, w, h, normalised)."""
    x, y, w, h = box
    width, height = upright
    cx, cy = _to_stored((x + w / 2) / width, (y + h / 2) / height, orientation)
    nw, nh = w / width, h / height
    return (cx, cy, *((nh, nw) if _swaps(orientation) else (nw, nh)))


def rectangle_to_box(rectangle: tuple[float, float, float, float], upright: tuple[int, int], orientation: int) -> Box:
    """A Microsoft People Tagging rectangle (top-left x, y, w, h, normalised) as our box."""
    x, y, w, h = rectangle
    return area_to_box((x + w / 2, y + h / 2, w, h), upright, orientation)


def box_to_rectangle(box: Box, upright: tuple[int, int], orientation: int) -> tuple[float, float, float, float]:
    cx, cy, w, h = box_to_area(box, upright, orientation)
    return (cx - w / 2, cy - h / 2, w, h)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------- reading
Area = tuple[float, float, float, float]  # centre x, y, w, h, normalised

MAX_NAME = 200  # characters: as for a name typed on the command line (photoface.people)
MAX_REGIONS = 500  # per packet: real photos hold a handful; thousands are a bomb, not tags
FIT_MARGIN = 0.05  # mean IoU a reading must gain to beat an earlier one with as many hits
_PACKET_END = re.compile(rb"<\?xpacket\s+end=[\"'][rw][\"']\s*\?>")


@dataclass(frozen=True)
class StatedRegion:
    """A named face region as the file states it: a normalised area whose frame (the stored
    image or the image as shown) is not decided yet. ``divided_by``: the pixel size a pixel
    boundary was divided by (the stored image's), so a reading whose frame is that turned a
    quarter divides by its own size instead."""

    name: str
    area: Area
    divided_by: tuple[float, float] | None = None


@dataclass
class StatedRegions:
    """What one XMP packet says: its named face regions, its AppliedToDimensions (None when
    missing or not sizes), its ``tiff:Orientation`` (None when it states none) and what was
    skipped, with the reason."""

    regions: list[StatedRegion] = field(default_factory=list)
    dims: tuple[float, float] | None = None
    orientation: int | None = None
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AreaSchema:
    """Where an MWG-style region list keeps its fields: MWG's own names, or ACDSee's copy of
    them (areas under ``DLYArea``, the one ACDSee shows and the user corrects, else the
    detector's ``ALGArea``)."""

    label: str  # how a skipped region is named in its reason
    regions: str  # the namespace of Regions, AppliedToDimensions, RegionList, Name, Type
    area: str  # the namespace of x, y, w, h and unit
    dims: str  # the namespace of the dimensions' w and h
    areas: tuple[str, ...]  # the area fields, the preferred first


MWG_SCHEMA = AreaSchema("region", MWG_RS, ST_AREA, ST_DIM, ("Area",))
ACDSEE_SCHEMA = AreaSchema("ACDSee region", ACDSEE_RS, ACDSEE_AREA, ACDSEE_DIM, ("DLYArea", "ALGArea"))
PERSON_TYPES = ("human", "face")  # IPTC image region types (cv.iptc.org/newscodes/imageregiontype) of people
SUBJECT_ROLES = ("subjectarea", "mainsubjectarea")  # IPTC region roles that, with a name, mark a person


@dataclass(frozen=True)
class Reading:
    """One way to put a packet's areas on the upright photo: ``orientation`` is the EXIF
    orientation that turns the areas' frame upright (1: they describe the image as shown)."""

    label: str
    orientation: int


def sidecars(photo: Path) -> list[Path]:
    """The sidecars tools keep beside a photo: ``photo.jpg.xmp`` and ``photo.xmp`` (any case)."""
    names = {photo.name + ".xmp", photo.name + ".XMP", photo.stem + ".xmp", photo.stem + ".XMP"}
    return sorted(photo.with_name(name) for name in names if photo.with_name(name).exists())


def embedded_xmp(photo: Path) -> bytes | None:
    """The XMP packet inside a photo (JPEG APP1, PNG iTXt, WebP chunk, TIFF tag 700), if any."""
    from PIL import Image

    with Image.open(photo) as image:
        packet = image.info.get("xmp") or getattr(image, "tag_v2", {}).get(700)
    return packet.encode() if isinstance(packet, str) else packet


def read_regions(packet: bytes, upright: tuple[int, int], orientation: int) -> tuple[list[Region], list[str]]:
    """The named face regions in an XMP packet (every convention) in the standard's reading
    (the first of ``readings``), and why any were skipped. The import decides the reading
    per photo from its faces instead (``choose_reading``)."""
    stated = read_stated(packet, stored_size(upright, orientation))
    reading = readings(stated.dims, upright, orientation)[0]
    return [place(region, reading, upright) for region in stated.regions], stated.skipped


def foreign_regions(text: str, upright: tuple[int, int], orientation: int, faces: Sequence[Box] = ()) -> list[Region]:
    """The regions of a sidecar that photoface did not write (other tools' names), in the
    reading that puts them on ``faces`` (photoface's named faces of the photo)."""
    stated = read_stated(_without_our_description(text).encode(), stored_size(upright, orientation))
    options = readings(stated.dims, upright, orientation, stated.orientation)
    reading, _ = choose_reading(stated.regions, options, upright, faces)
    return [place(region, reading, upright) for region in stated.regions]


def read_stated(packet: bytes, size: tuple[int, int] | None = None) -> StatedRegions:
    """The regions of every convention in one packet (MWG, ACDSee, IPTC, Microsoft), as stated
    (the first ``MAX_REGIONS``: the rest are counted, not read). ``size``: the stored image's,
    which IPTC pixel boundaries are divided by. A Microsoft region that repeats a region of
    another type (a pet) is not a face either."""
    root = parse_xmp(packet)
    stated = StatedRegions(orientation=_stated_orientation(root))
    found: list[StatedRegion] = []
    not_faces: list[StatedRegion] = []
    entries = chain(
        _area_lists(root, MWG_SCHEMA, stated, not_faces),
        _area_lists(root, ACDSEE_SCHEMA, stated, not_faces),
        _iptc_regions(root, size),
        _mp_lists(root, not_faces),
    )
    for region, problem in islice(entries, MAX_REGIONS):
        (found.append(region) if region else stated.skipped.append(problem))
    rest = sum(1 for _ in entries)
    if rest:
        stated.skipped.append(f"{rest:,} regions past the first {MAX_REGIONS} skipped")
    stated.regions = _distinct_stated(found)
    return stated


def _area_lists(
    root: Element, schema: AreaSchema, stated: StatedRegions, not_faces: list[StatedRegion]
) -> Iterator[tuple[StatedRegion | None, str]]:
    for info in root.iter(f"{{{schema.regions}}}Regions"):
        fields = _struct(info)
        dims = _dimensions(fields.get(f"{{{schema.regions}}}AppliedToDimensions"), schema.dims)
        stated.dims = stated.dims or dims
        yield from _area_regions(fields, schema, dims, not_faces)


def _stated_orientation(root: Element) -> int | None:
    """The packet's ``tiff:Orientation`` (attribute or element form), if it is one of the eight."""
    key = f"{{{TIFF}}}Orientation"
    values = chain(
        (node.get(key) for node in root.iter(f"{{{RDF}}}Description")), (node.text for node in root.iter(key))
    )
    for value in values:
        if value and value.strip() in {"1", "2", "3", "4", "5", "6", "7", "8"}:
            return int(value)
    return None


def _mp_lists(root: Element, not_faces: list[StatedRegion]) -> Iterator[tuple[StatedRegion | None, str]]:
    for info in root.iter(f"{{{MP}}}RegionInfo"):
        for region, problem in _mp_regions(_struct(info)):
            if region and any(_same(region, other) for other in not_faces):
                yield None, f"Microsoft region {_shown(region.name)} repeats a region that is not a face"
            else:
                yield region, problem


def parse_xmp(packet: bytes) -> Element:
    """Untrusted XML: no DTD, no entity, at most ``MAX_XMP_BYTES``. What follows the packet's
    end marker is left out: tools that rewrite a shorter packet in place leave the tail of the
    old one there."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    if len(packet) > MAX_XMP_BYTES:
        raise RegionError(f"XMP of {len(packet):,} bytes is over the {MAX_XMP_BYTES:,}-byte limit")
    end = _PACKET_END.search(packet)
    packet = packet[: end.end()] if end else packet
    try:
        return fromstring(packet.strip(b"\0 \t\r\n"), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise RegionError(f"XMP refused: {type(exc).__name__} (entities or a DTD)") from None
    except Exception as exc:  # ElementTree's ParseError and friends: broken XML from some file
        raise RegionError(f"XMP is not well-formed XML ({exc})") from None


def _struct(node: Element) -> dict[str, str | Element]:
    """The fields of an RDF struct in any of its spellings: attributes, child elements, an
    ``rdf:parseType="Resource"`` element, or a nested ``rdf:Description``."""
    fields: dict[str, str | Element] = {}
    holders = [node, *node.findall(f"{{{RDF}}}Description")]
    for holder in holders:
        for key, value in holder.attrib.items():
            if not key.startswith(f"{{{RDF}}}"):
                fields[key] = value
        for child in holder:
            if child.tag != f"{{{RDF}}}Description":
                fields[child.tag] = child if len(child) or child.attrib else (child.text or "").strip()
    return fields


def _items(node: str | Element | None) -> Iterator[Element]:
    """The ``rdf:li`` of a Bag or Seq property."""
    if isinstance(node, Element):
        for container in node:
            yield from container.findall(f"{{{RDF}}}li")


def _text(value: str | Element | None) -> str | None:
    if isinstance(value, Element):
        return (value.text or "").strip() or None
    return value.strip() if value else None


def _number(fields: dict, key: str) -> float:
    text = _text(fields.get(key)) or "nan"
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # a decimal comma, from a writer that used the locale's
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _dimensions(node: str | Element | None, namespace: str) -> tuple[float, float] | None:
    """AppliedToDimensions as (w, h); None when missing or not sizes (osxphotos writes only the unit)."""
    if not isinstance(node, Element):
        return None
    fields = _struct(node)
    width, height = _number(fields, f"{{{namespace}}}w"), _number(fields, f"{{{namespace}}}h")
    return (width, height) if width > 0 and height > 0 and math.isfinite(width * height) else None


def _area_regions(
    info: dict, schema: AreaSchema, dims: tuple[float, float] | None, not_faces: list[StatedRegion]
) -> Iterator[tuple[StatedRegion | None, str]]:
    for item in _items(info.get(f"{{{schema.regions}}}RegionList")):
        fields = _struct(item)
        name = _text(fields.get(f"{{{schema.regions}}}Name"))
        kind = _text(fields.get(f"{{{schema.regions}}}Type")) or "Face"  # the standard's default
        areas = (fields.get(f"{{{schema.regions}}}{key}") for key in schema.areas)
        area = next((found for found in areas if isinstance(found, Element)), None)
        values = _area(_struct(area), dims, schema.area) if area is not None else None
        if kind.lower() != "face":
            if name and values:
                not_faces.append(StatedRegion(name, values))
            which = f"{schema.label} {_shown(name)}" if name else f"an unnamed {schema.label}"
            yield None, f"{which} is of type {_shown(kind)}, not a face"
        elif not name:
            continue  # an unnamed face (a camera's detection): no name to import
        elif values is None:
            yield None, f"{schema.label} {_shown(name)} has no area"
        else:
            yield _checked(name, values)


def _area(fields: dict, dims: tuple[float, float] | None, namespace: str) -> Area:
    """Centre x, y, w, h, normalised; pixel areas (stArea:unit="pixel") are divided by the
    dimensions they were applied to."""
    values = tuple(_number(fields, f"{{{namespace}}}{key}") for key in "xywh")
    if (_text(fields.get(f"{{{namespace}}}unit")) or "").lower() == "pixel" and dims:
        values = (values[0] / dims[0], values[1] / dims[1], values[2] / dims[0], values[3] / dims[1])
    return values


def _iptc_regions(root: Element, size: tuple[int, int] | None) -> Iterator[tuple[StatedRegion | None, str]]:
    """IPTC Extension image regions (Photo Metadata 2019.1) that show a named person."""
    for container in root.iter(f"{{{IPTC_EXT}}}ImageRegion"):
        for item in _items(container):
            fields = _struct(item)
            name = _iptc_name(fields)
            which = f"IPTC region {_shown(name)}" if name else "an unnamed IPTC region"
            reason = _not_a_person(fields, name)
            if reason:
                yield None, f"{which} {reason}"
            elif name:  # an unnamed person (a detector's): no name to import
                boundary = fields.get(f"{{{IPTC_EXT}}}RegionBoundary")
                if not isinstance(boundary, Element):
                    yield None, f"{which} has no RegionBoundary"
                    continue
                area, in_pixels, problem = _boundary(_struct(boundary), size)
                yield _iptc_checked(name, area, in_pixels, size) if area else (None, f"{which} {problem}")


def _iptc_checked(
    name: str, area: Area, in_pixels: bool, size: tuple[int, int] | None
) -> tuple[StatedRegion | None, str]:
    """``_checked``, a pixel boundary divided by the stored image's size first, else by that
    size turned a quarter (a writer that gave pixels of the image as shown)."""
    if not in_pixels or not size:
        return _checked(name, area)
    cx, cy, w, h = area
    tries = [
        _checked(name, (cx / width, cy / height, w / width, h / height), (width, height))
        for width, height in ((float(size[0]), float(size[1])), (float(size[1]), float(size[0])))
    ]
    return next((found for found in tries if found[0]), tries[0])


def _iptc_name(fields: dict) -> str | None:
    """The region's Name, else the person it shows (PersonInImage, PersonInImageWDetails)."""
    name = _lang_alt(fields.get(f"{{{IPTC_EXT}}}Name"))
    if name:
        return name
    for person in _items(fields.get(f"{{{IPTC_EXT}}}PersonInImage")):
        if _text(person):
            return _text(person)
    for person in _items(fields.get(f"{{{IPTC_EXT}}}PersonInImageWDetails")):
        name = _lang_alt(_struct(person).get(f"{{{IPTC_EXT}}}PersonName"))
        if name:
            return name
    return None


def _lang_alt(value: str | Element | None) -> str | None:
    """A language alternative's default text (x-default, else the first), or a plain value."""
    items = list(_items(value))
    default = [item for item in items if item.get("{http://www.w3.org/XML/1998/namespace}lang") == "x-default"]
    return _text((default or items)[0]) if items else _text(value)


def _not_a_person(fields: dict, name: str | None) -> str | None:
    """Why an IPTC region is not a person, or None when it is: its content type is human (or
    face); without a type, it names a PersonInImage, or has a subject role and a name."""
    types = _terms(fields.get(f"{{{IPTC_EXT}}}rCtype"))
    roles = _terms(fields.get(f"{{{IPTC_EXT}}}rRole"))
    people = f"{{{IPTC_EXT}}}PersonInImage" in fields or f"{{{IPTC_EXT}}}PersonInImageWDetails" in fields
    if types:
        person = any(_is_term(term, PERSON_TYPES) for term in types)
        return None if person else f"is of content type {_shown(_last_segment(types[0]))}, not a person"
    if people or (name and any(_is_term(term, SUBJECT_ROLES) for term in roles)):
        return None
    if roles:
        return f"has the role {_shown(_last_segment(roles[0]))} and no content type: not a person"
    return "has no content type or role that marks a person"


def _terms(node: str | Element | None) -> list[str]:
    """The identifiers and names of a bag of IPTC controlled-vocabulary entities."""
    terms = []
    for item in _items(node):
        entity = _struct(item)
        identifier = entity.get(f"{{{XMP_BASIC}}}Identifier")
        terms += [text for li in _items(identifier) if (text := _text(li))] or [_text(identifier) or ""]
        terms.append(_lang_alt(entity.get(f"{{{IPTC_EXT}}}Name")) or "")
    return [term for term in terms if term]


def _is_term(term: str, names: tuple[str, ...]) -> bool:
    """A vocabulary URI (its last segment) or a plain name, in any case."""
    return _last_segment(term).lower() in names


def _last_segment(term: str) -> str:
    return term.rstrip("/").rsplit("/", 1)[-1]


def _boundary(fields: dict, size: tuple[int, int] | None) -> tuple[Area | None, bool, str]:
    """An IPTC RegionBoundary as an MWG area (centre x, y, w, h) in the boundary's unit, whether
    that unit is pixels, or the problem. Its x/y are the top-left corner (a circle's centre);
    a circle is its bounding square, a polygon the bounding box of its vertices."""
    shape = (_text(fields.get(f"{{{IPTC_EXT}}}rbShape")) or "rectangle").lower()
    unit = (_text(fields.get(f"{{{IPTC_EXT}}}rbUnit")) or "relative").lower()
    if unit not in ("relative", "pixel"):
        return None, False, f"has a boundary in unit {_shown(unit)}, not relative or pixel"
    if unit == "pixel" and not size:
        return None, False, "has a boundary in pixels, and the image's size is not known"
    if shape == "rectangle":
        x, y, w, h = (_iptc_number(fields, key) for key in ("rbX", "rbY", "rbW", "rbH"))
    elif shape == "circle":  # a relative radius is a fraction of the width (the IPTC standard)
        across = 2 * _iptc_number(fields, "rbRx")
        tall = across * (size[0] / size[1] if unit == "relative" and size else 1.0)
        x, y, w, h = _iptc_number(fields, "rbX") - across / 2, _iptc_number(fields, "rbY") - tall / 2, across, tall
    elif shape == "polygon":
        vertices = [_struct(li) for li in _items(fields.get(f"{{{IPTC_EXT}}}rbVertices"))]
        points = [(_iptc_number(vertex, "rbX"), _iptc_number(vertex, "rbY")) for vertex in vertices]
        if not points:
            return None, False, "has a polygon boundary without vertices"
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x, y, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    else:
        return None, False, f"has a boundary of shape {_shown(shape)}, not a rectangle, circle or polygon"
    return (x + w / 2, y + h / 2, w, h), unit == "pixel", ""


def _iptc_number(fields: dict, key: str) -> float:
    return _number(fields, f"{{{IPTC_EXT}}}{key}")


def _mp_regions(info: dict) -> Iterator[tuple[StatedRegion | None, str]]:
    for item in _items(info.get(f"{{{MPRI}}}Regions")):
        fields = _struct(item)
        name = _text(fields.get(f"{{{MPREG}}}PersonDisplayName"))
        rectangle = _text(fields.get(f"{{{MPREG}}}Rectangle"))
        if not name:
            continue
        try:
            values = tuple(float(part) for part in (rectangle or "").split(","))
        except ValueError:
            values = ()
        if len(values) != 4:
            yield None, f"region {_shown(name)} has no usable rectangle ({_shown(rectangle or '')})"
            continue
        x, y, w, h = values  # top-left corner, where MWG has the centre
        yield _checked(name, (x + w / 2, y + h / 2, w, h))


def _checked(name: str, area: Area, divided_by: tuple[float, float] | None = None) -> tuple[StatedRegion | None, str]:
    """A region, or why not: a usable name, a positive size, some of it inside the image."""
    cleaned = " ".join(name.split())
    if len(cleaned) > MAX_NAME:
        return None, f"region name {_shown(cleaned)} ({len(cleaned):,} characters) is over {MAX_NAME} characters"
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        return None, f"region name {_shown(cleaned)} has control characters"
    shown = ", ".join(f"{v:.4g}" for v in area)
    if not all(math.isfinite(v) for v in area) or area[2] <= 0 or area[3] <= 0:
        return None, f"region {_shown(cleaned)} has a zero or unreadable size (area {shown})"
    cx, cy, w, h = area
    if w > 1.05 or h > 1.05:  # pixels without a unit (or a unit without dimensions to divide by)
        return None, f"region {_shown(cleaned)} is larger than the image: not a normalised area (area {shown})"
    if min(1.0, cx + w / 2) <= max(0.0, cx - w / 2) or min(1.0, cy + h / 2) <= max(0.0, cy - h / 2):
        return None, f"region {_shown(cleaned)} lies outside the image (area {shown})"
    return StatedRegion(cleaned, area, divided_by), ""


def _shown(text: str, limit: int = 40) -> str:
    """A value for a one-line message: quoted, escaped, and cut short."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _unit_box(area: Area) -> Box:
    cx, cy, w, h = area
    return (cx - w / 2, cy - h / 2, w, h)


def _same(a: StatedRegion, b: StatedRegion) -> bool:
    return a.name.lower() == b.name.lower() and iou(_unit_box(a.area), _unit_box(b.area)) > 0.5


def _distinct_stated(regions: list[StatedRegion]) -> list[StatedRegion]:
    """The MWG and Microsoft lists of one tool name the same faces: each once."""
    kept: list[StatedRegion] = []
    for region in regions:
        if not any(_same(region, other) for other in kept):
            kept.append(region)
    return kept


# ------------------------------------------------------- deciding the frame
def dims_frame(dims: tuple[float, float] | None, stored: tuple[int, int]) -> str:
    """What AppliedToDimensions say about the image: "missing", "stored" (its aspect),
    "transposed" (the aspect turned a quarter) or "other". Only the aspect counts: tools
    write the size of a thumbnail, of the original, or one pixel off."""
    if dims is None:
        return "missing"
    aspect, image = dims[0] / dims[1], stored[0] / stored[1]
    if abs(aspect / image - 1) <= 0.03:
        return "stored"
    if abs(aspect * image - 1) <= 0.03:
        return "transposed"
    return "other"


def readings(
    dims: tuple[float, float] | None, upright: tuple[int, int], orientation: int, stated: int | None = None
) -> list[Reading]:
    """The readings a packet allows, the most likely first (used when faces do not decide).

    MWG says areas describe the stored image, and Lightroom writes them so even where it
    gives the upright size as AppliedToDimensions (orientations 5 to 8); other writers give
    the image as shown. So the dimensions never rule a reading out: both stay candidates.
    A photo without orientation whose dimensions are turned a quarter was turned upright
    after its regions were written (a re-encoded phone photo): the areas are turned too.
    A packet whose ``tiff:Orientation`` (``stated``) is not the file's (Lightroom or darktable
    turned the photo in its sidecar only, or the file was turned after the sidecar was
    written) adds two: areas of the image as that orientation shows it, and areas of an
    image that orientation turns upright.
    """
    stored = Reading("areas of the stored image", orientation)
    if orientation != 1:
        options = [stored, Reading("areas of the image as shown", 1)]
    elif dims_frame(dims, stored_size(upright, orientation)) == "transposed":
        options = [
            Reading("areas of the image before it was turned upright clockwise", 6),
            Reading("areas of the image before it was turned upright anticlockwise", 8),
            stored,
        ]
    else:
        options = [stored]
    if stated and stated != orientation:
        for option in (
            Reading(f"areas of the image as its XMP orientation {stated} shows it", _composed(orientation, stated)),
            Reading(f"areas of an image its XMP orientation {stated} turns upright", stated),
        ):
            if all(option.orientation != known.orientation for known in options):
                options.append(option)
    return options


def _composed(orientation: int, shown: int) -> int:
    """The orientation that turns the image as ``shown`` shows it into the image as
    ``orientation`` shows it (the stored image between them)."""
    probe = (0.1, 0.3)  # no symmetry of the square keeps this point, so one orientation fits
    target = _to_upright(*_to_stored(*probe, shown), orientation)
    return next(
        k for k in range(1, 9) if all(math.isclose(a, b) for a, b in zip(_to_upright(*probe, k), target, strict=True))
    )


def place(region: StatedRegion, reading: Reading, upright: tuple[int, int]) -> Region:
    """A stated region on the upright photo in ``reading``, clipped to the photo."""
    x, y, w, h = area_to_box(_in_frame(region, reading, upright), upright, reading.orientation)
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(upright[0]), x + w), min(float(upright[1]), y + h)
    return Region(region.name, (left, top, max(right - left, 1.0), max(bottom - top, 1.0)))


def _in_frame(region: StatedRegion, reading: Reading, upright: tuple[int, int]) -> Area:
    """The area normalised to the frame ``reading`` puts it in: a pixel boundary divided by the
    stored size is divided again by that frame's (the same, unless turned a quarter)."""
    if region.divided_by is None:
        return region.area
    width, height = stored_size(upright, reading.orientation)
    sx, sy = region.divided_by[0] / width, region.divided_by[1] / height
    cx, cy, w, h = region.area
    return (cx * sx, cy * sy, w * sx, h * sy)


def match(regions: Sequence[Box], faces: Sequence[Box], threshold: float) -> list[tuple[int, int, float]]:
    """Pairs (region, face, IoU) of at least ``threshold``, best overlap first, each once."""
    overlaps = [(iou(r, f), i, j) for i, r in enumerate(regions) for j, f in enumerate(faces)]
    pairs, taken_regions, taken_faces = [], set(), set()
    for overlap, i, j in sorted(overlaps, reverse=True):
        if overlap >= threshold and i not in taken_regions and j not in taken_faces:
            taken_regions.add(i)
            taken_faces.add(j)
            pairs.append((i, j, overlap))
    return pairs


def choose_reading(
    regions: Sequence[StatedRegion], options: Sequence[Reading], upright: tuple[int, int], faces: Sequence[Box]
) -> tuple[Reading, int]:
    """The reading that puts most regions on ``faces`` (boxes of the upright photo), and how
    many it puts there. A later reading must do better than an earlier one: more regions on
    faces, or as many with a clearly closer fit; so a photo whose faces fit both readings
    equally (one face in the middle, a mirror-symmetric pair) keeps the likelier one."""
    best, best_hits, best_fit = options[0], -1, 0.0
    for option in options:
        boxes = [place(region, option, upright).box for region in regions]
        pairs = match(boxes, faces, MATCH_IOU)
        hits, fit = len(pairs), sum(overlap for _, _, overlap in pairs)
        if hits > best_hits or (hits == best_hits and hits and fit > best_fit + FIT_MARGIN * hits):
            best, best_hits, best_fit = option, hits, fit
    return best, best_hits


def distinct(regions: list[Region]) -> list[Region]:
    """One region per face: the same name at the same place (from two lists, or two sources
    such as the photo and its sidecar) counts once."""
    kept: list[Region] = []
    for region in regions:
        if not any(k.name.lower() == region.name.lower() and iou(k.box, region.box) > 0.5 for k in kept):
            kept.append(region)
    return kept


# ----------------------------------------------------------------- writing
def sidecar_path(photo: Path, style: str) -> Path:
    return photo.with_name(photo.name + ".xmp") if style == "darktable" else photo.with_suffix(".xmp")


def regions_description(regions: list[Region], upright: tuple[int, int], orientation: int) -> str:
    """photoface's ``rdf:Description``: MWG regions of the stored image, and the same as
    Microsoft People Tagging regions for older Windows tools."""
    width, height = stored_size(upright, orientation)
    mwg, mp = [], []
    for region in regions:
        cx, cy, w, h = box_to_area(region.box, upright, orientation)
        name = escape(region.name, quote=False)  # element text; exiv2 misreads &#x27;
        mwg.append(
            '      <rdf:li rdf:parseType="Resource">\n'
            f"       <mwg-rs:Name>{name}</mwg-rs:Name>\n"
            "       <mwg-rs:Type>Face</mwg-rs:Type>\n"
            f'       <mwg-rs:Area stArea:x="{cx:.6f}" stArea:y="{cy:.6f}" stArea:w="{w:.6f}" stArea:h="{h:.6f}"'
            ' stArea:unit="normalized"/>\n'
            "      </rdf:li>\n"
        )
        x, y, w, h = box_to_rectangle(region.box, upright, orientation)
        mp.append(
            '      <rdf:li rdf:parseType="Resource">\n'
            f"       <MPReg:PersonDisplayName>{name}</MPReg:PersonDisplayName>\n"
            f"       <MPReg:Rectangle>{x:.6f}, {y:.6f}, {w:.6f}, {h:.6f}</MPReg:Rectangle>\n"
            "      </rdf:li>\n"
        )
    return (
        f'  <rdf:Description rdf:about="" xmlns:photoface="{PHOTOFACE}" photoface:written="regions"\n'
        f'    xmlns:mwg-rs="{MWG_RS}" xmlns:stArea="{ST_AREA}" xmlns:stDim="{ST_DIM}"\n'
        f'    xmlns:MP="{MP}" xmlns:MPRI="{MPRI}" xmlns:MPReg="{MPREG}">\n'
        '   <mwg-rs:Regions rdf:parseType="Resource">\n'
        f'    <mwg-rs:AppliedToDimensions stDim:w="{width}" stDim:h="{height}" stDim:unit="pixel"/>\n'
        "    <mwg-rs:RegionList>\n     <rdf:Bag>\n"
        + "".join(mwg)
        + "     </rdf:Bag>\n    </mwg-rs:RegionList>\n   </mwg-rs:Regions>\n"
        '   <MP:RegionInfo rdf:parseType="Resource">\n    <MPRI:Regions>\n     <rdf:Bag>\n'
        + "".join(mp)
        + "     </rdf:Bag>\n    </MPRI:Regions>\n   </MP:RegionInfo>\n  </rdf:Description>\n"
    )


NEW_SIDECAR = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photoface">\n'
    f' <rdf:RDF xmlns:rdf="{RDF}">\n'
    "{description}"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
)


def updated_sidecar(existing: str | None, description: str) -> str:
    """The sidecar text with photoface's description in place of the one it wrote before, and
    no other region list left (their regions are in ours); every other byte as it was."""
    if existing is None:
        return NEW_SIDECAR.format(description=description)
    text = _without_our_description(existing)
    for prefix, element in ((_prefix(text, MWG_RS), "Regions"), (_prefix(text, MP), "RegionInfo")):
        if prefix:
            text = re.sub(
                rf"[ \t]*<{re.escape(prefix)}:{element}\b(?:[^>]*/>|.*?</{re.escape(prefix)}:{element}>)[ \t]*\n?",
                "",
                text,
                flags=re.S,
            )
    rdf = _prefix(text, RDF) or "rdf"
    end = text.rfind(f"</{rdf}:RDF>")
    if end < 0:
        raise RegionError("the sidecar has no rdf:RDF element to add regions to")
    line_start = text.rfind("\n", 0, end) + 1
    at = line_start if not text[line_start:end].strip() else end
    return text[:at] + description + text[at:]


def _without_our_description(text: str) -> str:
    marker = _prefix(text, PHOTOFACE)
    if not marker:
        return text
    pattern = rf"[ \t]*<(\w+):Description\b[^>]*{re.escape(marker)}:written=\"regions\".*?</\1:Description>[ \t]*\n?"
    return re.sub(pattern, "", text, count=1, flags=re.S)


def _prefix(text: str, namespace: str) -> str | None:
    match = re.search(rf"xmlns:([\w.-]+)=[\"']{re.escape(namespace)}[\"']", text)
    return match.group(1) if match else None


def write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename over: a reader sees the old sidecar or the new one, never half."""
    temporary = path.with_name(f".{path.name}.photoface-tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- keywords
# People as keywords too, for tools that filter by keyword rather than by region (Lightroom,
# digiKam, darktable): the name in dc:subject and "People|name" in lr:hierarchicalSubject. An
# XMP packet may hold a property once (exiv2 refuses a file with two), so other tools' items
# of these two bags are carried into photoface's description byte for byte, as their region
# lists are; photoface records which items it added, so a later export tells theirs from ours
# and a removed name takes only photoface's keyword with it.
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
PEOPLE_KEYWORD = "People"  # the parent keyword of people's names (Lightroom's and digiKam's habit)
KEYWORD_BAGS = ((DC, "dc", "subject"), (LR, "lr", "hierarchicalSubject"))
_ADDED = {"subject": "addedSubject", "hierarchicalSubject": "addedHierarchicalSubject"}  # photoface's record

Keywords = dict[str, list[str]]  # property name -> items as raw rdf:li elements


def their_keywords(text: str) -> Keywords:
    """The items of the keyword bags that photoface did not add: those of other descriptions,
    and those it carried into its own at the last export (all but what it recorded as added)."""
    rdf = _prefix(text, RDF) or "rdf"
    ours, rest = _our_description(text), _without_our_description(text)
    found: Keywords = {}
    for namespace, _, name in KEYWORD_BAGS:
        added = {_li_value(item) for item in _bag_items(ours, PHOTOFACE, _ADDED[name], rdf)}
        carried = [item for item in _bag_items(ours, namespace, name, rdf) if _li_value(item) not in added]
        found[name] = carried + _bag_items(rest, namespace, name, rdf)
    return found


def people_keywords(names: Sequence[str], theirs: Keywords) -> str:
    """The keyword bags for photoface's description: the other items first, as they were, then
    each name not among them already (any case), with photoface's record of what it added."""
    people = sorted({" ".join(name.split()) for name in names}, key=str.casefold)
    lines = []
    for _, prefix, name in KEYWORD_BAGS:
        values = [f"{PEOPLE_KEYWORD}|{person}" if name == "hierarchicalSubject" else person for person in people]
        present = {_li_value(item).casefold() for item in theirs.get(name, [])}
        added = [value for value in values if value.casefold() not in present]
        lines += _bag(f"{prefix}:{name}", [*theirs.get(name, []), *map(_li, added)])
        lines += _bag(f"photoface:{_ADDED[name]}", [_li(value) for value in added])
    return "".join(lines)


def with_keywords(description: str, keywords: str) -> str:
    """photoface's description with the keyword bags in it (and their namespaces); a
    description of keywords alone where there are no regions (only other tools' items left)."""
    if not keywords:
        return description
    if not description:
        description = f'  <rdf:Description rdf:about="" xmlns:photoface="{PHOTOFACE}" photoface:written="regions">\n'
        description += "  </rdf:Description>\n"
    mark = 'photoface:written="regions"'
    description = description.replace(mark, f'{mark} xmlns:dc="{DC}" xmlns:lr="{LR}"', 1)
    close = description.rindex("  </rdf:Description>")
    return description[:close] + keywords + description[close:]


def without_keywords(text: str) -> str:
    """The sidecar without any keyword bag (their items are carried into photoface's description)."""
    for namespace, _, name in KEYWORD_BAGS:
        prefix = _prefix(text, namespace)
        if prefix:
            element = re.escape(f"{prefix}:{name}")
            text = re.sub(rf"[ \t]*<{element}\b(?:[^>]*/>|.*?</{element}>)[ \t]*\n?", "", text, flags=re.S)
    return text


def _our_description(text: str) -> str:
    marker = _prefix(text, PHOTOFACE)
    if not marker:
        return ""
    pattern = rf"<(\w+):Description\b[^>]*{re.escape(marker)}:written=\"regions\".*?</\1:Description>"
    found = re.search(pattern, text, flags=re.S)
    return found.group(0) if found else ""


def _bag_items(text: str, namespace: str, name: str, rdf: str) -> list[str]:
    """The rdf:li elements, exactly as written, of every ``name`` property of ``namespace``."""
    prefix = _prefix(text, namespace)
    if not prefix:
        return []
    element, li = re.escape(f"{prefix}:{name}"), re.escape(f"{rdf}:li")
    items = []
    for body in re.findall(rf"<{element}\b[^>]*?>(.*?)</{element}>", text, flags=re.S):
        items += re.findall(rf"<{li}\b[^>]*?(?:/>|>.*?</{li}>)", body, flags=re.S)
    return items


def _li_value(item: str) -> str:
    """An item's text, as a reader sees it (entities decoded)."""
    inner = re.sub(r"^<[^>]*>|<[^>]*>$", "", item.strip())
    return unescape(inner).strip() if not item.rstrip().endswith("/>") else ""


def _li(value: str) -> str:
    return f"<rdf:li>{escape(value, quote=False)}</rdf:li>"


def _bag(element: str, items: list[str]) -> list[str]:
    if not items:
        return []
    rows = [f"     {item}\n" for item in items]
    return [f"   <{element}>\n    <rdf:Bag>\n", *rows, f"    </rdf:Bag>\n   </{element}>\n"]
