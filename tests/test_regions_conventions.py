"""Face regions in the conventions beyond MWG and Microsoft, written by real clients and read
through ``photoface scan``: IPTC Extension image regions (exiftool and exiv2; relative and pixel
units; rectangles, circles and polygons), ACDSee regions (exiftool with the acdsee.config it ships, and exiv2), and
sidecars whose ``tiff:Orientation`` is not the file's; each in EXIF orientations 1, 6 and 8, the
areas in either frame. Regions that are not people are skipped with the reason, and hostile
values give one-line reasons.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface.cli import app
from photoface.imageio import UPRIGHT_TRANSPOSES
from photoface.regions import MAX_REGIONS
from tests import test_regions_tools
from tests.test_regions_tools import NAMES, _exiftool, _json, _names_by_face, _sidecar, _stored, _write_photo

runner = CliRunner()
truth = test_regions_tools.truth  # the fixture: the upright photo and its three faces, left to right
ORIENTATIONS = (1, 6, 8)
FRAMES = ("stored", "shown")  # the areas describe the image as stored, or as shown (upright)
HUMAN = "http://cv.iptc.org/newscodes/imageregiontype/human"
ANIMAL = "http://cv.iptc.org/newscodes/imageregiontype/animal"
SUBJECT = "http://cv.iptc.org/newscodes/imageregionrole/subjectArea"
PET = ("Rex", (0.1, 0.1, 0.08, 0.08))  # a named region that is not a person (centre x, y, w, h)
Area = tuple[float, float, float, float]
Frame = Callable[[Image.Image], Image.Image]


def _area_in(box, size: tuple[int, int], frame: Frame) -> tuple[Area, tuple[int, int]]:
    """A box of the upright photo as a normalised area (centre x, y, w, h) of ``frame`` (the
    upright image moved into it), and the frame's size: found by moving pixels, not by
    photoface's own conversion."""
    mask = np.zeros((size[1], size[0]), np.uint8)
    x, y, w, h = (round(v) for v in box)
    mask[y : y + h, x : x + w] = 255
    moved = np.asarray(frame(Image.fromarray(mask)))
    rows, cols = np.nonzero(moved)
    height, width = moved.shape
    left, top, right, bottom = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    area = ((left + right) / 2 / width, (top + bottom) / 2 / height, (right - left) / width, (bottom - top) / height)
    return area, (width, height)


def _frame(orientation: int, frame: str) -> Frame:
    return (lambda image: _stored(image, orientation)) if frame == "stored" else (lambda image: image.copy())


def _areas(truth, frame: Frame) -> tuple[list[tuple[str, Area]], tuple[int, int]]:
    upright, boxes = truth
    placed = [_area_in(box, upright.size, frame) for box in boxes]
    return [(name, area) for name, (area, _) in zip(NAMES, placed, strict=True)], placed[0][1]


# ------------------------------------------------------------------- IPTC
def _boundary(area: Area, size: tuple[int, int], variant: str) -> str:
    """An IPTC RegionBoundary (top-left x, y) in exiftool's struct syntax."""
    cx, cy, w, h = area
    if variant == "circle":  # the circle around the box; a relative radius is a fraction of the width
        radius = max(w * size[0], h * size[1]) / 2 / size[0]
        return f"{{RbShape=circle,RbUnit=relative,RbX={cx:.6f},RbY={cy:.6f},RbRx={radius:.6f}}}"
    x, y = cx - w / 2, cy - h / 2
    if variant == "polygon":  # a diamond touching the box's sides: its bounding box is the box
        corners = ((x, cy), (cx, y), (x + w, cy), (cx, y + h))
        vertices = ",".join(f"{{RbX={u:.6f},RbY={v:.6f}}}" for u, v in corners)
        return f"{{RbShape=polygon,RbUnit=relative,RbVertices=[{vertices}]}}"
    if variant == "pixel":
        x, w, y, h = x * size[0], w * size[0], y * size[1], h * size[1]
        return f"{{RbShape=rectangle,RbUnit=pixel,RbX={x:.2f},RbY={y:.2f},RbW={w:.2f},RbH={h:.2f}}}"
    return f"{{RbShape=rectangle,RbUnit=relative,RbX={x:.6f},RbY={y:.6f},RbW={w:.6f},RbH={h:.6f}}}"


def _iptc(truth, frame: Frame, variant: str) -> str:
    """The three faces, each marked as a person in another way the standard allows (a human
    content type; a subject role with a name; a PersonInImage), and a pet."""
    areas, size = _areas(truth, frame)
    (first, a), (second, b), (third, c) = areas
    items = [
        f"{{RegionBoundary={_boundary(a, size, variant)},Name={first},RCtype=[{{Identifier=[{HUMAN}]}}]}}",
        f"{{RegionBoundary={_boundary(b, size, variant)},Name={second},RRole=[{{Identifier=[{SUBJECT}]}}]}}",
        f"{{RegionBoundary={_boundary(c, size, variant)},PersonInImage=[{third}]}}",
        f"{{RegionBoundary={_boundary(PET[1], size, 'relative')},Name={PET[0]},RCtype=[{{Identifier=[{ANIMAL}]}}]}}",
    ]
    return f"-XMP-iptcExt:ImageRegion=[{','.join(items)}]"


def _iptc_by_exiv2(photo: Path, truth, frame: Frame) -> None:
    """Relative rectangles written by exiv2 (its struct paths; it writes Name as plain text)."""
    import pyexiv2

    areas, _ = _areas(truth, frame)
    root, ns = "Xmp.iptcExt.ImageRegion", "iptcExt"
    tags = {root: 'type="Bag"'}
    for i, (name, (cx, cy, w, h)) in enumerate([*areas, PET], 1):
        item, boundary = f"{root}[{i}]", f"{root}[{i}]/{ns}:RegionBoundary"
        tags |= {item: 'type="Struct"', f"{item}/{ns}:Name": name, boundary: 'type="Struct"'}
        values = ("rectangle", "relative", cx - w / 2, cy - h / 2, w, h)
        for key, value in zip(("rbShape", "rbUnit", "rbX", "rbY", "rbW", "rbH"), values, strict=True):
            tags[f"{boundary}/{ns}:{key}"] = f"{value:.6f}" if isinstance(value, float) else value
        ctype = f"{item}/{ns}:rCtype"
        tags |= {ctype: 'type="Bag"', f"{ctype}[1]": 'type="Struct"', f"{ctype}[1]/xmp:Identifier": 'type="Bag"'}
        tags[f"{ctype}[1]/xmp:Identifier[1]"] = ANIMAL if name == PET[0] else HUMAN
    image = pyexiv2.Image(str(photo))
    try:
        image.modify_xmp(tags)
    finally:
        image.close()


def _scan_debug(db: Path, library: Path, caplog: pytest.LogCaptureFixture) -> str:
    """``scan --debug``: what it prints, and its log lines (which reading each source took)."""
    with caplog.at_level(logging.INFO, logger="photoface.region_exchange"):
        result = runner.invoke(app, ["--debug", "--db", str(db), "scan", str(library)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result.output + caplog.text


def _check_named(db: Path, truth, photos: list[Path], output: str) -> None:
    """Every photo's three faces carry the right names, and each pet is skipped with its reason."""
    wrong = {photo.name: names for photo in photos if (names := _names_by_face(db, truth, photo)) != list(NAMES)}
    assert wrong == {}
    for photo in photos:
        lines = [line for line in output.splitlines() if photo.stem in line]
        assert any("'Rex'" in line and "not a" in line for line in lines), (photo, lines)
        assert any("regions read as" in line for line in lines), (photo, lines)
    people = _json(db, "people")
    assert sorted(p["name"] for p in people) == sorted(NAMES) and all(p["faces"] == len(photos) for p in people)


def test_iptc_image_regions_name_the_right_faces(exiftool, truth, tmp_path, caplog):
    library = tmp_path / "library"
    library.mkdir()
    photos = []
    for orientation in ORIENTATIONS:
        for frame_name in FRAMES:
            frame = _frame(orientation, frame_name)
            for variant in ("relative", "pixel", "circle", "polygon", "exiv2"):
                photo = library / f"iptc-{variant}-{frame_name}-{orientation}.jpg"
                _write_photo(truth, photo, orientation, 60 + len(photos))  # different bytes: no copies
                if variant == "exiv2":
                    _iptc_by_exiv2(photo, truth, frame)
                else:
                    _exiftool(exiftool, "-q", "-overwrite_original", _iptc(truth, frame, variant), photo)
                photos.append(photo)
    db = tmp_path / "c.db"
    output = _scan_debug(db, library, caplog)
    assert "is of content type 'animal', not a person" in output
    _check_named(db, truth, photos, output)
    report = _json(db, "regions", "import", str(library))
    assert report["already"] == 3 * len(photos) and report["made_from_box"] == 0 and report["unmatched"] == []


# ----------------------------------------------------------------- ACDSee
@pytest.fixture(scope="module")
def acdsee_config(tmp_path_factory) -> Path:
    """exiftool's own definition of the ACDSee region tags (config_files/acdsee.config)."""
    shipped = Path("/usr/share/doc/libimage-exiftool-perl/config_files/acdsee.config.gz")
    if not shipped.exists():
        reason = f"{shipped} not found (Debian's libimage-exiftool-perl ships it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    config = tmp_path_factory.mktemp("exiftool") / "acdsee.config"
    config.write_bytes(gzip.decompress(shipped.read_bytes()))
    return config


def _acdsee(truth, frame: Frame) -> str:
    """ACDSee regions in exiftool's syntax: DLYArea centre x, y, w, h (acdsee.config), the
    dimensions of the areas' frame, and a pet."""
    areas, (width, height) = _areas(truth, frame)
    items = [
        f"{{Name={name},Type={kind},NameAssignType=Manual,DLYArea={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f}}}}}"
        for (name, (x, y, w, h)), kind in zip([*areas, PET], ["Face"] * len(areas) + ["Pet"], strict=True)
    ]
    return (
        f"-RegionInfoACDSee={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},RegionList=[{','.join(items)}]}}"
    )


def _acdsee_by_exiv2(photo: Path, truth, frame: Frame) -> None:
    """The same regions written by exiv2, the ACDSee namespaces registered under ACDSee's own
    prefixes."""
    import pyexiv2

    namespaces = {"acdsee-rs": "regions/", "acdsee-stArea": "sType/Area#", "acdsee-stDim": "sType/Dimensions#"}
    for prefix, path in namespaces.items():
        pyexiv2.registerNs(f"http://ns.acdsee.com/{path}", prefix)
    areas, (width, height) = _areas(truth, frame)
    root = "Xmp.acdsee-rs.Regions"
    dims = f"{root}/acdsee-rs:AppliedToDimensions"
    tags = {root: 'type="Struct"', dims: 'type="Struct"', f"{dims}/acdsee-stDim:w": str(width)}
    tags |= {f"{dims}/acdsee-stDim:h": str(height), f"{root}/acdsee-rs:RegionList": 'type="Bag"'}
    for i, (name, area) in enumerate([*areas, PET], 1):
        item = f"{root}/acdsee-rs:RegionList[{i}]"
        kind = "Pet" if name == PET[0] else "Face"
        tags |= {item: 'type="Struct"', f"{item}/acdsee-rs:Name": name, f"{item}/acdsee-rs:Type": kind}
        tags[f"{item}/acdsee-rs:DLYArea"] = 'type="Struct"'
        for key, value in zip("xywh", area, strict=True):
            tags[f"{item}/acdsee-rs:DLYArea/acdsee-stArea:{key}"] = f"{value:.6f}"
    image = pyexiv2.Image(str(photo))
    try:
        image.modify_xmp(tags)
    finally:
        image.close()


def test_acdsee_regions_name_the_right_faces(exiftool, acdsee_config, truth, tmp_path, caplog):
    library = tmp_path / "library"
    library.mkdir()
    photos = []
    for orientation in ORIENTATIONS:
        for frame_name in FRAMES:
            for where in ("embedded", "darktable", "exiv2"):
                photo = library / f"acdsee-{where}-{frame_name}-{orientation}.jpg"
                _write_photo(truth, photo, orientation, 60 + len(photos))
                frame = _frame(orientation, frame_name)
                if where == "exiv2":
                    _acdsee_by_exiv2(photo, truth, frame)
                else:
                    target = ("-overwrite_original",) if where == "embedded" else ("-o", _sidecar(photo, where))
                    _exiftool(exiftool, "-config", acdsee_config, "-q", _acdsee(truth, frame), *target, photo)
                photos.append(photo)
    db = tmp_path / "c.db"
    output = _scan_debug(db, library, caplog)
    assert "ACDSee region 'Rex' is of type 'Pet', not a face" in output
    _check_named(db, truth, photos, output)


# ------------------------------------------------- sidecar orientation
# The file's EXIF orientation and the one its sidecar states (Lightroom or darktable turned the
# photo in the sidecar only, or the file was turned after the sidecar was written). Chosen so
# that neither of the readings the sidecar adds is one the file alone allows.
SIDECAR_TURNS = {1: 6, 6: 8, 8: 6}


def _sidecar_frame(orientation: int, stated: int, frame: str) -> Frame:
    """``shown``: the stored image as the sidecar's orientation shows it; ``upright``: an image
    the sidecar's orientation turns upright."""
    if frame == "shown":
        return lambda image: _stored(image, orientation).transpose(UPRIGHT_TRANSPOSES[stated])
    return lambda image: _stored(image, stated)


def test_a_sidecar_orientation_other_than_the_files_is_a_reading_too(exiftool, truth, tmp_path, caplog):
    """MWG areas without dimensions (darktable writes none) in the frame the sidecar's
    ``tiff:Orientation`` gives: the file's own orientation alone puts none on the faces."""
    library = tmp_path / "library"
    library.mkdir()
    photos = []
    for orientation, stated in SIDECAR_TURNS.items():
        for frame in ("shown", "upright"):
            photo = library / f"turned-{frame}-{orientation}.jpg"
            _write_photo(truth, photo, orientation, 60 + len(photos))
            areas, _ = _areas(truth, _sidecar_frame(orientation, stated, frame))
            items = [
                f"{{Area={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},Name={name},Type={kind}}}"
                for (name, (x, y, w, h)), kind in zip([*areas, PET], ["Face"] * len(areas) + ["Pet"], strict=True)
            ]
            regions = f"-RegionInfo={{RegionList=[{','.join(items)}]}}"
            target = _sidecar(photo, "adobe")
            _exiftool(exiftool, "-q", "-o", target, regions, photo)  # tiff:Orientation copied from EXIF, then
            _exiftool(exiftool, "-q", "-overwrite_original", f"-XMP-tiff:Orientation#={stated}", target)  # turned
            assert (
                f"tiff:Orientation>{stated}<" in target.read_text() or f'Orientation="{stated}"' in target.read_text()
            )
            photos.append(photo)
    db = tmp_path / "c.db"
    output = _scan_debug(db, library, caplog)
    _check_named(db, truth, photos, output)
    assert "its XMP orientation" in output


# ------------------------------------------------------------ bad input
HOSTILE = {  # name -> IPTC boundary (relative, top-left x, y, w, h)
    "Far Away": (5.0, 5.0, 0.1, 0.1),
    "Zero Size": (0.5, 0.5, 0.0, 0.1),
    "L" * 10_000: (0.3, 0.3, 0.1, 0.1),
    "Bell\u0085Ringer\u009b31m": (0.6, 0.6, 0.1, 0.1),
}
XMP_HEAD = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:acdsee-rs="http://ns.acdsee.com/regions/" xmlns:acdsee-stArea="http://ns.acdsee.com/sType/Area#" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
)
XMP_TAIL = "</rdf:Description></rdf:RDF></x:xmpmeta>"


def _iptc_item(name: str, box: Area, shape: str = "rectangle") -> str:
    x, y, w, h = box
    return (
        f'<rdf:li rdf:parseType="Resource"><Iptc4xmpExt:Name>{name}</Iptc4xmpExt:Name>'
        f'<Iptc4xmpExt:RegionBoundary Iptc4xmpExt:rbShape="{shape}" Iptc4xmpExt:rbUnit="relative" '
        f'Iptc4xmpExt:rbX="{x}" Iptc4xmpExt:rbY="{y}" Iptc4xmpExt:rbW="{w}" Iptc4xmpExt:rbH="{h}"/>'
        f"<Iptc4xmpExt:rCtype><rdf:Bag><rdf:li><rdf:Description><xmp:Identifier><rdf:Bag><rdf:li>{HUMAN}</rdf:li>"
        "</rdf:Bag></xmp:Identifier></rdf:Description></rdf:li></rdf:Bag></Iptc4xmpExt:rCtype></rdf:li>"
    )


def _acdsee_item(name: str, box: Area) -> str:
    x, y, w, h = box
    return (
        f'<rdf:li acdsee-rs:Name="{name}" acdsee-rs:Type="Face"><acdsee-rs:DLYArea acdsee-stArea:x="{x + w / 2}" '
        f'acdsee-stArea:y="{y + h / 2}" acdsee-stArea:w="{w}" acdsee-stArea:h="{h}"/></rdf:li>'
    )


def test_hostile_regions_in_either_convention_are_one_line_skips(truth, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    iptc, acdsee, crowd = library / "iptc.jpg", library / "acdsee.jpg", library / "crowd.jpg"
    for quality, photo in enumerate((iptc, acdsee, crowd)):
        _write_photo(truth, photo, 6, 80 + quality)
    iptc_items = "".join(_iptc_item(name, box) for name, box in HOSTILE.items())
    iptc_items += _iptc_item("Odd Shape", (0.1, 0.1, 0.1, 0.1), shape="star")
    _sidecar(iptc, "darktable").write_text(
        f"{XMP_HEAD}<Iptc4xmpExt:ImageRegion><rdf:Bag>{iptc_items}</rdf:Bag></Iptc4xmpExt:ImageRegion>{XMP_TAIL}"
    )
    acdsee_items = "".join(_acdsee_item(name, box) for name, box in HOSTILE.items())
    _sidecar(acdsee, "adobe").write_text(
        f'{XMP_HEAD}<acdsee-rs:Regions rdf:parseType="Resource"><acdsee-rs:RegionList><rdf:Bag>{acdsee_items}'
        f"</rdf:Bag></acdsee-rs:RegionList></acdsee-rs:Regions>{XMP_TAIL}"
    )
    many = "".join(_iptc_item(f"Person {i}", (0.5, 0.5, 0, 0.1)) for i in range(MAX_REGIONS + 50))  # each refused
    _sidecar(crowd, "darktable").write_text(
        f"{XMP_HEAD}<Iptc4xmpExt:ImageRegion><rdf:Bag>{many}</rdf:Bag></Iptc4xmpExt:ImageRegion>{XMP_TAIL}"
    )
    db = tmp_path / "c.db"
    result = runner.invoke(app, ["--db", str(db), "scan", str(library)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    skipped = _json(db, "regions", "import", str(library))["skipped"]
    assert all("\n" not in line and len(line) < 300 for line in skipped)
    for source, label in ((iptc, "IPTC region"), (acdsee, "ACDSee region")):
        mine = [line for line in skipped if line.startswith(str(source.with_suffix("")))]
        for needle in (
            "'Far Away' lies outside the image",
            "'Zero Size' has a zero or unreadable size",
            "(10,000 characters) is over 200 characters",
            "'Bell Ringer\\x9b31m' has control characters",
        ):
            assert any(needle in line for line in mine), (label, needle, mine)
    assert any("'Odd Shape' has a boundary of shape 'star'" in line for line in skipped), skipped
    assert any("50 regions past the first 500 skipped" in line for line in skipped), skipped
    named = {face["name"] for face in _json(db, "faces") if face["name"]}
    assert not named & {*HOSTILE, "Odd Shape"}
