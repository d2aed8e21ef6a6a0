"""XMP face regions with real clients: files written by exiftool are imported with every name on
the right face, in all 8 EXIF orientations, embedded and in both sidecar styles, MWG and
Microsoft; what photoface exports is read back by exiftool and exiv2, and survives a round trip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface.catalog import Catalog
from photoface.cli import app
from photoface.regions import iou
from tests.conftest import data_path

runner = CliRunner()
NAMES = ("Alice Martin", "Bob O'Neil", "Carol <Ng>")
PHOTO = "2008_001322.jpg"  # three faces
# The transpose that stores an upright photo so that EXIF orientation N shows it upright again
# (the inverse of what Pillow's exif_transpose applies).
STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.fixture(scope="module")
def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        reason = "exiftool not found (apt-get install libimage-exiftool-perl)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def truth(engine) -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """The upright photo and its three faces' boxes, left to right."""
    path = data_path("groups", PHOTO)
    boxes = sorted((face.box for face in engine.analyze(path)), key=lambda box: box[0])
    assert len(boxes) == 3
    with Image.open(path) as image:
        return image.convert("RGB"), boxes


def _stored(upright: Image.Image, orientation: int) -> Image.Image:
    return upright.transpose(STORE[orientation]) if orientation in STORE else upright.copy()


def _stored_area(box, size: tuple[int, int], orientation: int) -> tuple[float, float, float, float]:
    """A box of the upright photo as an area of the stored image, found by moving pixels (not
    by photoface's own conversion)."""
    mask = np.zeros((size[1], size[0]), np.uint8)
    x, y, w, h = (round(v) for v in box)
    mask[y : y + h, x : x + w] = 255
    stored = np.asarray(_stored(Image.fromarray(mask), orientation))
    rows, cols = np.nonzero(stored)
    height, width = stored.shape
    left, top, right, bottom = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    return ((left + right) / 2 / width, (top + bottom) / 2 / height, (right - left) / width, (bottom - top) / height)


def _write_photo(truth, path: Path, orientation: int, quality: int = 95) -> None:
    upright, _ = truth
    exif = Image.Exif()
    exif[0x0112] = orientation
    _stored(upright, orientation).save(path, quality=quality, exif=exif)


def _mwg(truth, orientation: int) -> str:
    upright, boxes = truth
    stored = _stored(upright, orientation).size
    items = []
    for name, box in zip(NAMES, boxes, strict=True):
        x, y, w, h = _stored_area(box, upright.size, orientation)
        items.append(f"{{Area={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},Name={name},Type=Face}}")
    return (
        f"-RegionInfo={{AppliedToDimensions={{W={stored[0]},H={stored[1]},Unit=pixel}},RegionList=[{','.join(items)}]}}"
    )


def _mp(truth, orientation: int) -> str:
    upright, boxes = truth
    items = []
    for name, box in zip(NAMES, boxes, strict=True):
        x, y, w, h = _stored_area(box, upright.size, orientation)
        items.append(f"{{PersonDisplayName={name},Rectangle={x - w / 2:.6f}|, {y - h / 2:.6f}|, {w:.6f}|, {h:.6f}}}")
    return f"-RegionInfoMP={{Regions=[{','.join(items)}]}}"


def _exiftool(tool: str, *args: str | Path) -> str:
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _json(db: Path, *args: str):
    result = runner.invoke(app, ["--db", str(db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _names_by_face(db: Path, truth, photo: Path) -> list[str | None]:
    """The name on each true face of ``photo``, left to right (None: unnamed or not found)."""
    _, boxes = truth
    faces = _json(db, "faces", "--photo", str(photo))
    names = []
    for box in boxes:
        best = max(faces, key=lambda face: iou(tuple(face["box"]), box))
        names.append(best["name"] if iou(tuple(best["box"]), box) > 0.5 else None)
    return names


def test_regions_written_by_exiftool_name_the_right_faces(exiftool, truth, tmp_path):
    """Every orientation x {MWG embedded, MWG in photo.jpg.xmp, MWG in photo.xmp, Microsoft embedded}."""
    library = tmp_path / "library"
    library.mkdir()
    photos = {}
    for orientation in range(1, 9):
        for quality, where in enumerate(("embedded", "darktable", "adobe", "windows"), 90):
            photo = library / f"{where}-{orientation}.jpg"
            _write_photo(truth, photo, orientation, quality)  # different bytes: no photo is a copy of another
            tags = _mp(truth, orientation) if where == "windows" else _mwg(truth, orientation)
            if where in ("embedded", "windows"):
                _exiftool(exiftool, "-q", "-overwrite_original", tags, photo)
            else:
                sidecar = photo.with_name(photo.name + ".xmp") if where == "darktable" else photo.with_suffix(".xmp")
                _exiftool(exiftool, "-q", "-o", sidecar, tags, photo)
            photos[photo] = orientation
    db = tmp_path / "c.db"
    report = _json(db, "scan", str(library))
    assert report["regions"]["named"] == 3 * len(photos)
    assert report["regions"]["unmatched"] == [] and report["regions"]["skipped"] == []
    for photo, orientation in photos.items():
        assert _names_by_face(db, truth, photo) == list(NAMES), (photo.name, orientation)
    people = _json(db, "people")
    assert sorted(p["name"] for p in people) == sorted(NAMES) and all(p["faces"] == len(photos) for p in people)


def test_export_is_read_by_exiftool_and_exiv2_and_comes_back(exiftool, truth, tmp_path):
    import pyexiv2

    library = tmp_path / "library"
    library.mkdir()
    for orientation in range(1, 9):
        _write_photo(truth, library / f"photo-{orientation}.jpg", orientation)
    db = tmp_path / "c.db"
    _json(db, "scan", "--no-regions", str(library))
    with Catalog.open(db) as catalog, catalog.transaction():  # the user names the three faces
        people = [catalog.create_person(name) for name in NAMES]
        for orientation in range(1, 9):
            photo = library / f"photo-{orientation}.jpg"
            for face in catalog.faces(photo=str(photo)):
                best = max(range(3), key=lambda i: iou(tuple(face["box"]), truth[1][i]))
                catalog.assign_faces([face["id"]], people[best])
    report = _json(db, "regions", "export")
    assert len(report["written"]) == 8 and report["skipped"] == []
    for orientation in range(1, 9):
        photo = library / f"photo-{orientation}.jpg"
        sidecar = photo.with_name(photo.name + ".xmp")
        (read,) = json.loads(_exiftool(exiftool, "-struct", "-j", "-XMP-mwg-rs:RegionInfo", sidecar))
        regions = {r["Name"]: r["Area"] for r in read["RegionInfo"]["RegionList"]}
        assert sorted(regions) == sorted(NAMES)
        faces = {f["name"]: f["box"] for f in _json(db, "faces", "--photo", str(photo))}
        for name, area in regions.items():
            expected = _stored_area(faces[name], truth[0].size, orientation)
            assert np.allclose([area["X"], area["Y"], area["W"], area["H"]], expected, atol=0.005), (orientation, name)
        exiv2 = pyexiv2.Image(str(sidecar))
        assert {v for k, v in exiv2.read_xmp().items() if k.endswith("mwg-rs:Name")} == set(NAMES)
        exiv2.close()
    again = _json(db, "regions", "export")
    assert again["written"] == [] and again["unchanged"] == 8
    fresh = tmp_path / "fresh.db"
    assert _json(fresh, "scan", str(library))["regions"]["named"] == 24
    for orientation in range(1, 9):
        assert _names_by_face(fresh, truth, library / f"photo-{orientation}.jpg") == list(NAMES)


DARKTABLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="3"
    darktable:xmp_version="5"
    darktable:history_end="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"
      darktable:params="0000000000000000"/>
     <rdf:li darktable:num="1" darktable:operation="colorbalancergb" darktable:enabled="1"
      darktable:params="gz09eJxjYGBgkGAAgRNODGiAEV0AAO0wAhU="/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@pytest.mark.parametrize("maker", ["lightroom", "darktable"])
def test_export_keeps_everything_else_in_a_sidecar(exiftool, truth, tmp_path, maker):
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "beach.jpg"
    _write_photo(truth, photo, 1)
    if maker == "lightroom":  # a rating and keywords, as Lightroom keeps them in photo.xmp
        sidecar, style = photo.with_suffix(".xmp"), "adobe"
        _exiftool(
            exiftool,
            "-q",
            "-o",
            sidecar,
            "-XMP-xmp:Rating=4",
            "-XMP-dc:Subject=holiday",
            "-XMP-lr:HierarchicalSubject=Places|Beach",
            photo,
        )
    else:  # a darktable edit history, as darktable keeps it in photo.jpg.xmp
        sidecar, style = photo.with_name(photo.name + ".xmp"), "darktable"
        sidecar.write_text(DARKTABLE_SIDECAR)
    before = sidecar.read_text()
    db = tmp_path / "c.db"
    _json(db, "scan", str(library))
    with Catalog.open(db) as catalog, catalog.transaction():
        person = catalog.create_person("Alice Martin")
        catalog.assign_faces([catalog.faces(photo=str(photo))[0]["id"]], person)
    dry = _json(db, "regions", "export", "--sidecar", style, "--dry-run")
    assert dry["written"] == [str(sidecar)] and sidecar.read_text() == before
    _json(db, "regions", "export", "--sidecar", style)
    after = sidecar.read_text()
    start = after.index('  <rdf:Description rdf:about="" xmlns:photoface=')
    end = after.index("</rdf:Description>\n", start) + len("</rdf:Description>\n")
    assert after[:start] + after[end:] == before  # byte for byte, outside photoface's regions
    (read,) = json.loads(_exiftool(exiftool, "-struct", "-j", "-XMP:all", sidecar))
    assert read["RegionInfo"]["RegionList"][0]["Name"] == "Alice Martin"
    if maker == "lightroom":
        assert (read["Rating"], read["Subject"], read["HierarchicalSubject"]) == (4, ["holiday"], ["Places|Beach"])
    else:
        assert read["Rating"] == 3 and [step["Operation"] for step in read["History"]] == [
            "exposure",
            "colorbalancergb",
        ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("<x:xmpmeta><rdf:RDF", "not well-formed XML"),
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbb">]><a>&b;</a>', "entities or a DTD"),
    ],
)
def test_an_unreadable_sidecar_is_never_written_over(truth, tmp_path, content, reason):
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "a.jpg"
    _write_photo(truth, photo, 1)
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_text(content)
    db = tmp_path / "c.db"
    scan = _json(db, "scan", str(library))
    assert len(scan["regions"]["skipped"]) == 1 and reason in scan["regions"]["skipped"][0]
    with Catalog.open(db) as catalog, catalog.transaction():
        catalog.assign_faces([catalog.faces(photo=str(photo))[0]["id"]], catalog.create_person("Alice Martin"))
    result = runner.invoke(app, ["--db", str(db), "regions", "export", "--json"])
    assert result.exit_code == 3
    assert reason in json.loads(result.stdout)["skipped"][0] and sidecar.read_text() == content
    sidecar.unlink()
    sidecar.mkdir()  # a sidecar that is a directory
    result = runner.invoke(app, ["--db", str(db), "regions", "export", "--json"])
    assert result.exit_code == 3 and "is a directory" in json.loads(result.stdout)["skipped"][0]
    imported = _json(db, "regions", "import", str(library))
    assert imported["named"] == 0 and "is a directory, not a sidecar" in imported["skipped"][0]


def test_export_follows_renames_and_removed_names(truth, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "a.jpg"
    _write_photo(truth, photo, 1)
    db = tmp_path / "c.db"
    _json(db, "scan", str(library))
    with Catalog.open(db) as catalog, catalog.transaction():
        faces = sorted(catalog.faces(photo=str(photo)), key=lambda face: face["box"][0])
        for face, name in zip(faces, ("Alice Martin", "Bob Smith"), strict=False):
            catalog.assign_faces([face["id"]], catalog.create_person(name))
    sidecar = photo.with_name(photo.name + ".xmp")
    _json(db, "regions", "export", "--people", "Alice Martin")
    assert "Bob Smith" in sidecar.read_text(), "a photo exported for Alice keeps Bob's region"
    runner.invoke(app, ["--db", str(db), "rename", "Bob Smith", "Robert Smith"])
    _json(db, "regions", "export")
    assert "Robert Smith" in sidecar.read_text() and "Bob Smith" not in sidecar.read_text()
    for name in ("Alice Martin", "Robert Smith"):
        runner.invoke(app, ["--db", str(db), "unname", name])
    assert _json(db, "regions", "export")["written"] == [str(sidecar)]
    assert "mwg-rs" not in sidecar.read_text(), "no name left: photoface's regions are gone"
