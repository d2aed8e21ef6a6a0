"""Face regions in XMP: the names other tools (digiKam, Lightroom, Picasa, Windows) stored in
photos and sidecars, read as our boxes; and our names written back in the same standards.

Three layers, top to bottom:

- geometry (pure): Metadata Working Group areas (normalised centre x/y and w/h of the image
  *as stored*) and Microsoft People Tagging rectangles (normalised top-left x/y, w/h, also of
  the stored image) to and from photoface's boxes (pixels of the upright, full-resolution
  photo), for all eight EXIF orientations;
- reading: an XMP packet (embedded, or a sidecar) parsed as untrusted XML (defusedxml: no
  DTD, no entities; a size limit), with the RDF shorthand forms tools use;
- writing: a sidecar updated as text. photoface writes its regions in an ``rdf:Description``
  of its own, marked so a later export replaces exactly it; every other byte of the file stays
  as it was, except region lists of other tools, whose regions are carried into ours (one
  region list per photo, as the standard wants).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
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
PHOTOFACE = "https://photoface.example/ns/regions/1.0/"  # marks the description photoface wrote

MAX_XMP_BYTES = 4 * 2**20  # larger packets are refused unread (real ones are kilobytes)
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
    """The named face regions in an XMP packet (MWG and Microsoft), and why any were skipped."""
    return _regions_of(parse_xmp(packet), upright, orientation)


def foreign_regions(text: str, upright: tuple[int, int], orientation: int) -> list[Region]:
    """The regions of a sidecar that photoface did not write (other tools' names)."""
    return _regions_of(parse_xmp(_without_our_description(text).encode()), upright, orientation)[0]


def _regions_of(root: Element, upright: tuple[int, int], orientation: int) -> tuple[list[Region], list[str]]:
    regions, skipped = [], []
    stored = stored_size(upright, orientation)
    for info in root.iter(f"{{{MWG_RS}}}Regions"):
        for region, problem in _mwg_regions(_struct(info), stored, upright, orientation):
            (regions.append(region) if region else skipped.append(problem))
    for info in root.iter(f"{{{MP}}}RegionInfo"):
        for region, problem in _mp_regions(_struct(info), upright, orientation):
            (regions.append(region) if region else skipped.append(problem))
    return distinct(regions), skipped


def parse_xmp(packet: bytes) -> Element:
    """Untrusted XML: no DTD, no entity, at most ``MAX_XMP_BYTES``."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    if len(packet) > MAX_XMP_BYTES:
        raise RegionError(f"XMP of {len(packet):,} bytes is over the {MAX_XMP_BYTES:,}-byte limit")
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
    try:
        return float(_text(fields.get(key)) or "nan")
    except ValueError:
        return float("nan")


def _mwg_regions(
    info: dict, stored: tuple[int, int], upright: tuple[int, int], orientation: int
) -> Iterator[tuple[Region | None, str]]:
    dims = info.get(f"{{{MWG_RS}}}AppliedToDimensions")
    if not isinstance(dims, Element):
        yield None, "a region list without AppliedToDimensions"
        return
    dims = _struct(dims)
    width, height = _number(dims, f"{{{ST_DIM}}}w"), _number(dims, f"{{{ST_DIM}}}h")
    if not (width > 0 and height > 0):
        yield None, "a region list whose AppliedToDimensions are not sizes"
        return
    if abs(width / height - stored[0] / stored[1]) > 0.01 * stored[0] / stored[1]:
        yield None, f"regions for a {width:.0f}x{height:.0f} image, not this {stored[0]}x{stored[1]} one"
        return
    for item in _items(info.get(f"{{{MWG_RS}}}RegionList")):
        fields = _struct(item)
        name = _text(fields.get(f"{{{MWG_RS}}}Name"))
        kind = (_text(fields.get(f"{{{MWG_RS}}}Type")) or "Face").lower()
        area = fields.get(f"{{{MWG_RS}}}Area")
        if not name or kind != "face":
            continue  # a pet, a focus area or an unnamed face: nothing to import
        if not isinstance(area, Element):
            yield None, f"region {name!r} has no area"
            continue
        area = _struct(area)
        values = tuple(_number(area, f"{{{ST_AREA}}}{key}") for key in "xywh")
        yield _checked(name, values, lambda v: area_to_box(v, upright, orientation), upright)


def _mp_regions(info: dict, upright: tuple[int, int], orientation: int) -> Iterator[tuple[Region | None, str]]:
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
            yield None, f"region {name!r} has no usable rectangle ({rectangle!r})"
            continue
        yield _checked(name, values, lambda v: rectangle_to_box(v, upright, orientation), upright)


def _checked(name: str, values: tuple, to_box, upright: tuple[int, int]) -> tuple[Region | None, str]:
    """A region from normalised values, or why not: sizes must be positive, inside the image."""
    if not all(math.isfinite(v) for v in values) or values[2] <= 0 or values[3] <= 0:
        return None, f"region {name!r} has a zero or unreadable size"
    x, y, w, h = to_box(values)
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(upright[0]), x + w), min(float(upright[1]), y + h)
    if right - left < 1 or bottom - top < 1:
        return None, f"region {name!r} lies outside the image"
    return Region(" ".join(name.split()), (left, top, right - left, bottom - top)), ""


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
