"""XMP face regions with real clients: files written by exiftool are imported with every name on
the right face, in all 8 EXIF orientations, embedded and in both sidecar styles, MWG and
Microsoft; what photoface exports is read back by exiftool and exiv2, and survives a round trip.
"""

from __future__ import annotations

import json
import re
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


# How writers disagree (photoface.regions): MWG's own rule (exiftool, digiKam), Lightroom
# Classic (areas of the stored image, AppliedToDimensions of the upright one for 5 to 8),
# writers that give everything as shown, and writers that leave the dimensions out.
CONVENTIONS = ("mwg", "lightroom", "shown", "no-dims")


def _areas(truth, orientation: int, convention: str):
    """The three faces as (name, MWG area) and the AppliedToDimensions (None: left out) a
    writer of ``convention`` gives for the photo stored for ``orientation``."""
    upright, boxes = truth
    frame = 1 if convention == "shown" else orientation  # "shown": the areas of the upright image
    areas = [(name, _stored_area(box, upright.size, frame)) for name, box in zip(NAMES, boxes, strict=True)]
    dims = upright.size if convention in ("lightroom", "shown") else _stored(upright, orientation).size
    return areas, None if convention == "no-dims" else dims


def _mwg(truth, orientation: int, convention: str = "mwg") -> str:
    """The regions as an exiftool argument."""
    areas, dims = _areas(truth, orientation, convention)
    items = [
        f"{{Area={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},Name={name},Type=Face}}"
        for name, (x, y, w, h) in areas
    ]
    applied = f"AppliedToDimensions={{W={dims[0]},H={dims[1]},Unit=pixel}}," if dims else ""
    return f"-RegionInfo={{{applied}RegionList=[{','.join(items)}]}}"


def _exiv2(photo: Path, truth, orientation: int, convention: str) -> None:
    """The regions written into ``photo`` by exiv2 (its XMP struct paths)."""
    import pyexiv2

    areas, dims = _areas(truth, orientation, convention)
    root = "Xmp.mwg-rs.Regions"
    tags = {root: 'type="Struct"', f"{root}/mwg-rs:RegionList": 'type="Bag"'}
    if dims:
        tags[f"{root}/mwg-rs:AppliedToDimensions"] = 'type="Struct"'
        for key, value in zip(("w", "h", "unit"), (*dims, "pixel"), strict=True):
            tags[f"{root}/mwg-rs:AppliedToDimensions/stDim:{key}"] = str(value)
    for i, (name, area) in enumerate(areas, 1):
        item = f"{root}/mwg-rs:RegionList[{i}]"
        tags |= {item: 'type="Struct"', f"{item}/mwg-rs:Name": name, f"{item}/mwg-rs:Type": "Face"}
        tags[f"{item}/mwg-rs:Area"] = 'type="Struct"'
        for key, value in zip(("x", "y", "w", "h", "unit"), (*(f"{v:.6f}" for v in area), "normalized"), strict=True):
            tags[f"{item}/mwg-rs:Area/stArea:{key}"] = value
    image = pyexiv2.Image(str(photo))
    try:
        image.modify_xmp(tags)
    finally:
        image.close()


def _mp(truth, orientation: int) -> str:
    upright, boxes = truth
    items = []
    for name, box in zip(NAMES, boxes, strict=True):
        x, y, w, h = _stored_area(box, upright.size, orientation)
        items.append(f"{{PersonDisplayName={name},Rectangle={x - w / 2:.6f}|, {y - h / 2:.6f}|, {w:.6f}|, {h:.6f}}}")
    return f"-RegionInfoMP={{Regions=[{','.join(items)}]}}"


def _sidecar(photo: Path, style: str) -> Path:
    return photo.with_name(photo.name + ".xmp") if style == "darktable" else photo.with_suffix(".xmp")


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
    """Every orientation x {MWG embedded by exiftool and by exiv2, in photo.jpg.xmp, in photo.xmp}
    x every convention of frame and dimensions, and Microsoft regions embedded."""
    library = tmp_path / "library"
    library.mkdir()
    photos = {}
    quality = 60
    for orientation in range(1, 9):
        for where in ("embedded", "darktable", "adobe", "exiv2", "windows"):
            for convention in ("mp",) if where == "windows" else CONVENTIONS:
                quality += 1  # different bytes: no photo is a copy of another
                photo = library / f"{where}-{convention}-{orientation}.jpg"
                _write_photo(truth, photo, orientation, quality % 40 + 60)
                tags = _mp(truth, orientation) if where == "windows" else _mwg(truth, orientation, convention)
                if where == "exiv2":
                    _exiv2(photo, truth, orientation, convention)
                elif where in ("embedded", "windows"):
                    _exiftool(exiftool, "-q", "-overwrite_original", tags, photo)
                else:
                    _exiftool(exiftool, "-q", "-o", _sidecar(photo, where), tags, photo)
                photos[photo] = orientation
    db = tmp_path / "c.db"
    report = _json(db, "scan", str(library))
    assert report["regions"]["unmatched"] == [] and report["regions"]["skipped"] == []
    assert report["regions"]["named"] == 3 * len(photos) and report["regions"]["made_from_box"] == 0
    wrong = {photo.name: names for photo in photos if (names := _names_by_face(db, truth, photo)) != list(NAMES)}
    assert wrong == {}
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
                catalog.assign_faces([face["id"]], people[best], confirmed=True)
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
        catalog.assign_faces([catalog.faces(photo=str(photo))[0]["id"]], person, confirmed=True)
    dry = _json(db, "regions", "export", "--sidecar", style, "--dry-run")
    assert dry["written"] == [str(sidecar)] and sidecar.read_text() == before
    _json(db, "regions", "export", "--sidecar", style)
    after = sidecar.read_text()
    start = after.index('  <rdf:Description rdf:about="" xmlns:photoface=')
    end = after.index("</rdf:Description>\n", start) + len("</rdf:Description>\n")
    # Byte for byte, outside photoface's description; but keyword bags are one per packet, so
    # Lightroom's move into it (their items as they were, beside the people photoface adds).
    bags = re.findall(r"[ \t]*<(dc:subject|lr:hierarchicalSubject)>.*?</\1>\n", before, flags=re.S)
    assert len(bags) == (2 if maker == "lightroom" else 0)
    expected = re.sub(r"[ \t]*<(dc:subject|lr:hierarchicalSubject)>.*?</\1>\n", "", before, flags=re.S)
    assert after[:start] + after[end:] == expected
    for item in re.findall(r"<rdf:li>[^<]*</rdf:li>", "".join(bags)):
        assert item in after[start:end]
    (read,) = json.loads(_exiftool(exiftool, "-struct", "-j", "-XMP:all", sidecar))
    assert read["RegionInfo"]["RegionList"][0]["Name"] == "Alice Martin"
    if maker == "lightroom":
        assert (read["Rating"], read["Subject"], read["HierarchicalSubject"]) == (
            4,
            ["holiday", "Alice Martin"],
            ["Places|Beach", "People|Alice Martin"],
        )
    else:
        assert read["Rating"] == 3 and [step["Operation"] for step in read["History"]] == [
            "exposure",
            "colorbalancergb",
        ]


def _keywords(exiftool: str, sidecar: Path) -> tuple[list[str], list[str]]:
    """dc:subject and lr:hierarchicalSubject as exiftool reads them, and checked against exiv2."""
    import pyexiv2

    (read,) = json.loads(_exiftool(exiftool, "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", sidecar))
    subject, hierarchical = (
        [v] if isinstance(v, str) else v for v in (read.get("Subject", []), read.get("HierarchicalSubject", []))
    )
    exiv2 = pyexiv2.Image(str(sidecar))
    try:
        xmp = exiv2.read_xmp()
    finally:
        exiv2.close()
    assert (xmp.get("Xmp.dc.subject", []), xmp.get("Xmp.lr.hierarchicalSubject", [])) == (subject, hierarchical)
    return subject, hierarchical


def test_export_writes_people_as_keywords_beside_the_others(exiftool, truth, tmp_path):
    """People as keywords for tools that filter by keyword: the name in dc:subject, People|name
    in lr:hierarchicalSubject. The user's own keywords stay (one of them a name photoface
    writes too), re-export changes nothing, and a removed name takes only photoface's keyword."""
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "beach.jpg"
    _write_photo(truth, photo, 1)
    sidecar = photo.with_suffix(".xmp")
    keywords = ("-XMP-dc:Subject=holiday", "-XMP-dc:Subject=Alice Martin", "-XMP-lr:HierarchicalSubject=Places|Beach")
    _exiftool(exiftool, "-q", "-o", sidecar, "-XMP-xmp:Rating=4", *keywords, photo)
    db = tmp_path / "c.db"
    _json(db, "scan", str(library))
    with Catalog.open(db) as catalog, catalog.transaction():
        for face in catalog.faces(photo=str(photo)):
            best = max(range(3), key=lambda i: iou(tuple(face["box"]), truth[1][i]))
            catalog.assign_faces([face["id"]], catalog.create_person(NAMES[best]), confirmed=True)
    assert _json(db, "regions", "export", "--sidecar", "adobe")["written"] == [str(sidecar)]
    assert _keywords(exiftool, sidecar) == (
        ["holiday", "Alice Martin", "Bob O'Neil", "Carol <Ng>"],
        ["Places|Beach", *(f"People|{name}" for name in NAMES)],
    )
    written = sidecar.read_bytes()
    again = _json(db, "regions", "export", "--sidecar", "adobe")
    assert (again["written"], again["unchanged"]) == ([], 1) and sidecar.read_bytes() == written
    for name in ("Alice Martin", "Carol <Ng>"):
        assert runner.invoke(app, ["--db", str(db), "unname", name]).exit_code == 0
    _json(db, "regions", "export", "--sidecar", "adobe")
    assert _keywords(exiftool, sidecar) == (
        ["holiday", "Alice Martin", "Bob O'Neil"],
        ["Places|Beach", "People|Bob O'Neil"],
    )
    assert runner.invoke(app, ["--db", str(db), "unname", "Bob O'Neil"]).exit_code == 0
    _json(db, "regions", "export", "--sidecar", "adobe")
    assert _keywords(exiftool, sidecar) == (["holiday", "Alice Martin"], ["Places|Beach"])
    (read,) = json.loads(_exiftool(exiftool, "-j", "-XMP:all", sidecar))
    assert read["Rating"] == 4 and "RegionInfo" not in read
    assert _json(db, "regions", "export", "--sidecar", "adobe")["unchanged"] == 1


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
        catalog.assign_faces(
            [catalog.faces(photo=str(photo))[0]["id"]], catalog.create_person("Alice Martin"), confirmed=True
        )
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
            catalog.assign_faces([face["id"]], catalog.create_person(name), confirmed=True)
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


def test_face_in_box_finds_the_face_or_makes_one_from_the_box(engine, truth):
    """The library path a later ``add-face PHOTO X Y W H NAME`` calls: a box in upright pixels."""
    from photoface.engine.boxed import face_in_box

    upright, boxes = truth
    scanned = {face.box: face.embedding for face in engine.analyze(upright)}
    found = face_in_box(engine, upright, boxes[0])
    assert found.detected and iou(found.face.box, boxes[0]) > 0.7
    assert float(found.face.embedding @ scanned[boxes[0]]) > 0.9  # the same face as the scan's
    blank = face_in_box(engine, Image.new("RGB", (200, 200), "grey"), (50, 60, 40, 50))
    assert not blank.detected and blank.face.box == (50, 60, 40, 50) and blank.face.score == 0
    assert np.linalg.norm(blank.face.embedding) == pytest.approx(1, abs=1e-3)


def test_a_region_over_a_face_the_scan_misses_still_names_a_face(exiftool, truth, tmp_path):
    """Faces too small for the default profile (about 12 pixels here), in a photo turned by its
    orientation: looking again inside the region finds them; a region over no face at all
    becomes a face made from its box. All are named, cluster and export like any other."""
    upright, boxes = truth
    scale, offset = 0.15, (100, 100)
    small = upright.resize((round(upright.width * scale), round(upright.height * scale)), Image.Resampling.BOX)
    canvas = Image.new("RGB", (400, 300), (128, 128, 128))
    canvas.paste(small, offset)
    faces = [(x * scale + offset[0], y * scale + offset[1], w * scale, h * scale) for x, y, w, h in boxes]
    blank = (300.0, 30.0, 40.0, 50.0)
    regions = [*zip(NAMES, faces, strict=True), ("Nobody Here", blank)]
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "small.jpg"
    _write_photo((canvas, None), photo, 6)
    items = []
    for name, box in regions:
        x, y, w, h = _stored_area(box, canvas.size, 6)
        items.append(f"{{Area={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},Name={name},Type=Face}}")
    width, height = _stored(canvas, 6).size
    tags = f"-RegionInfo={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},RegionList=[{','.join(items)}]}}"
    _exiftool(exiftool, "-q", "-overwrite_original", tags, photo)
    db = tmp_path / "c.db"
    report = _json(db, "scan", str(library))["regions"]
    assert report["unmatched"] == [] and report["named"] == 4
    assert report["found_in_region"] >= 1 and report["made_from_box"] == 1
    named = {face["name"]: face for face in _json(db, "faces", "--photo", str(photo))}
    for name, box in regions:
        assert iou(tuple(named[name]["box"]), box) > 0.3, name
    assert named["Nobody Here"]["origin"] == "region box" and named["Nobody Here"]["box"] == list(blank)
    assert {named[name]["origin"] for name in NAMES} <= {None, "region"}
    again = _json(db, "regions", "import", str(library))  # the faces made last time are the regions' faces now
    assert (again["named"], again["already"], again["made_from_box"], again["found_in_region"]) == (0, 4, 0, 0)
    _json(db, "cluster", "--full")  # region faces are clustered with the rest; names stay where they are
    assert {face["name"] for face in _json(db, "faces", "--photo", str(photo))} == {*NAMES, "Nobody Here"}
    exported = _json(db, "regions", "export")
    assert exported["written"] == [str(photo.with_name(photo.name + ".xmp"))]
    (read,) = json.loads(_exiftool(exiftool, "-struct", "-j", "-XMP-mwg-rs:RegionInfo", exported["written"][0]))
    assert sorted(r["Name"] for r in read["RegionInfo"]["RegionList"]) == sorted([*NAMES, "Nobody Here"])


HOSTILE = {
    "Far Away": (5.0, 5.0, 0.1, 0.1),
    "Zero Size": (0.5, 0.5, 0.0, 0.1),
    "L" * 10_000: (0.3, 0.3, 0.1, 0.1),
    "Bell\u0085Ringer\u009b31m": (0.6, 0.6, 0.1, 0.1),
}


def test_hostile_regions_are_one_line_skips_and_change_nothing(truth, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    photo, bomb_photo = library / "a.jpg", library / "b.jpg"
    _write_photo(truth, photo, 1, 90)
    _write_photo(truth, bomb_photo, 1, 91)
    items = "".join(
        f'<rdf:li mwg-rs:Name="{name}" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="{x}" stArea:y="{y}" '
        f'stArea:w="{w}" stArea:h="{h}" stArea:unit="normalized"/></rdf:li>'
        for name, (x, y, w, h) in HOSTILE.items()
    )
    _sidecar(photo, "darktable").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
        'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"><mwg-rs:Regions rdf:parseType="Resource">'
        f"<mwg-rs:RegionList><rdf:Bag>{items}</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>",
        encoding="utf-8",
    )
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    _sidecar(bomb_photo, "adobe").write_text(  # a billion laughs
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">{laughs}]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">&l9;</x:xmpmeta>'
    )
    db = tmp_path / "c.db"
    report = _json(db, "scan", str(library))["regions"]
    assert report["named"] == 0 and report["unmatched"] == []
    skipped = report["skipped"]
    assert len(skipped) == 5 and all("\n" not in line and len(line) < 300 for line in skipped)
    for needle in (
        "'Far Away' lies outside the image (area 5, 5, 0.1, 0.1)",
        "'Zero Size' has a zero or unreadable size (area 0.5, 0.5, 0, 0.1)",
        "(10,000 characters) is over 200 characters",
        "'Bell Ringer\\x9b31m' has control characters",
        "b.xmp: XMP refused: DTDForbidden (entities or a DTD)",
    ):
        assert any(needle in line for line in skipped), (needle, skipped)
    assert _json(db, "people") == []
    assert all(face["name"] is None and face["origin"] is None for face in _json(db, "faces"))
