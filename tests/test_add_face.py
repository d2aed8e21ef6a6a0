"""``photoface add-face PHOTO X Y W H NAME``: a face the detector missed is named all the same.
On real photos: a group photo's faces, shrunk until the scan no longer finds them, are found by
looking again inside the drawn box; an empty box becomes a face made from it. The faces are
found by ``find``, keep their people through ``cluster --full`` and are exported as regions
and keywords (read back with exiftool). Bad input is one line and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface.cli import app
from photoface.regions import iou
from tests.conftest import data_path

runner = CliRunner()
PHOTO = "2008_001322.jpg"  # three faces, all found by the scan
SCALE, OFFSET = 0.15, (100, 100)  # shrunk so: faces of about 12 pixels, under the scan's smallest
BLANK = (300.0, 30.0, 40.0, 50.0)  # grey canvas: no face at all


@pytest.fixture
def library(tmp_path, engine) -> tuple[Path, list[tuple[float, float, float, float]]]:
    """A folder with the group photo and a canvas holding it shrunk; the canvas's face boxes."""
    source = data_path("groups", PHOTO)
    folder = tmp_path / "library"  # each test's own: an export leaves sidecars a scan would read
    folder.mkdir()
    shutil.copy(source, folder / "group.jpg")
    with Image.open(source) as image:
        upright = image.convert("RGB")
    small = upright.resize((round(upright.width * SCALE), round(upright.height * SCALE)), Image.Resampling.BOX)
    canvas = Image.new("RGB", (400, 300), (128, 128, 128))
    canvas.paste(small, OFFSET)
    canvas.save(folder / "small.jpg", quality=95)
    boxes = sorted((face.box for face in engine.analyze(upright)), key=lambda box: box[0])
    return folder, [(x * SCALE + OFFSET[0], y * SCALE + OFFSET[1], w * SCALE, h * SCALE) for x, y, w, h in boxes]


def _run(db: Path, *args: str):
    return runner.invoke(app, ["--db", str(db), *map(str, args)])


def _json(db: Path, *args: str):
    result = _run(db, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _box(box: tuple[float, ...]) -> list[str]:
    return [f"{v:.1f}" for v in box]


@pytest.fixture
def catalog(library, tmp_path) -> Path:
    folder, _ = library
    db = tmp_path / "c.db"
    scan = _json(db, "scan", folder)
    assert scan["faces"] == 3, "the scan finds the group photo's faces, none on the canvas"
    assert _json(db, "faces", "--photo", folder / "small.jpg") == []
    return db


def test_a_missed_face_and_an_empty_box_are_named_found_clustered_and_exported(library, catalog, exiftool):
    folder, small_faces = library
    db, small, group = catalog, folder / "small.jpg", folder / "group.jpg"
    left = min(_json(db, "faces", "--photo", group), key=lambda face: face["box"][0])
    assert _run(db, "move", left["id"], "Alice Martin").exit_code == 0

    result = _run(db, "add-face", small, *_box(small_faces[1]), "Bob O'Neil")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert "\n" not in line and line.startswith("face ") and "Bob O'Neil" in line
    assert line.endswith("(a new person): found by the detector in the box")
    alice = next(person["id"] for person in _json(db, "people") if person["name"] == "Alice Martin")
    by_id = _json(db, "add-face", small, *_box(small_faces[0]), str(alice))  # a person by id
    assert (by_id["name"], by_id["person"], by_id["detected"], by_id["created"]) == ("Alice Martin", alice, True, False)
    blank = _json(db, "add-face", small, *_box(BLANK), "bob o'neil")  # an existing name, any case
    assert (blank["name"], blank["detected"], blank["origin"], blank["box"]) == (
        "Bob O'Neil",
        False,
        "drawn box",
        list(BLANK),
    )

    faces = {face["id"]: face for face in _json(db, "faces", "--photo", small)}
    assert len(faces) == 3 and faces[by_id["face"]]["origin"] == "drawn"
    assert iou(tuple(faces[by_id["face"]]["box"]), small_faces[0]) > 0.3
    assert all(face["assigned"] == "manual" for face in faces.values())
    assert _json(db, "find", "Bob O'Neil") == [str(small)]
    assert sorted(_json(db, "find", "Alice Martin")) == sorted([str(group), str(small)])

    _json(db, "cluster", "--full")
    after = {face["id"]: (face["person"], face["name"]) for face in _json(db, "faces", "--photo", small)}
    assert after == {i: (face["person"], face["name"]) for i, face in faces.items()}

    exported = _json(db, "regions", "export")
    sidecar = small.with_name(small.name + ".xmp")
    assert str(sidecar) in exported["written"]
    (read,) = json.loads(_exiftool(exiftool, "-struct", "-j", "-XMP-mwg-rs:RegionInfo", "-XMP-dc:Subject", sidecar))
    assert sorted(r["Name"] for r in read["RegionInfo"]["RegionList"]) == ["Alice Martin", "Bob O'Neil", "Bob O'Neil"]
    assert read["Subject"] == ["Alice Martin", "Bob O'Neil"]


def _exiftool(tool: str, *args: str | Path) -> str:
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bad_input_is_one_line_naming_the_value_and_changes_nothing(library, catalog, tmp_path):
    folder, small_faces = library
    db, small = catalog, folder / "small.jpg"
    outside = tmp_path / "elsewhere.jpg"
    shutil.copy(small, outside)
    cases = [
        ((small, "380", "250", "40", "60", "Alice"), "box 380 250 40 60 is outside", "400 x 300 pixels"),
        ((small, "-5", "10", "40", "40", "Alice"), "box -5 10 40 40 is outside", "400 x 300 pixels"),
        ((small, "10", "10", "0", "40", "Alice"), "box 10 10 0 40 has no size", "W and H"),
        ((outside, *_box(small_faces[0]), "Alice"), f"{outside} is not in the catalog", "scan it first"),
        ((tmp_path / "gone.jpg", "1", "1", "5", "5", "Alice"), "gone.jpg does not exist", "check the path"),
        ((small, *_box(small_faces[0]), "999"), "no person 999", "photoface people"),
        ((small, *_box(small_faces[0]), ""), "a name cannot be empty", ""),
    ]
    before = (_json(db, "faces"), _json(db, "people"))
    for args, *needles in cases:
        result = _run(db, "add-face", *args)
        assert result.exit_code != 0, args
        assert result.stderr.count("\n") == 1 and all(needle in result.stderr for needle in needles), result.stderr
        assert (_json(db, "faces"), _json(db, "people")) == before, args


def test_a_drawn_face_is_embedded_with_the_catalogs_own_model(library, tmp_path):
    """A catalog scanned with the fp32 model (best) gets fp32 drawn faces, comparable with its own."""
    from photoface.catalog import Catalog
    from photoface.drawn import matching_profile

    folder, _ = library
    db = tmp_path / "best.db"
    with Catalog.open(db, create=True) as catalog:
        assert matching_profile(catalog) == "balanced"  # no faces yet: the default
    _json(db, "scan", "--profile", "best", folder)
    with Catalog.open(db) as catalog:
        assert matching_profile(catalog) == "best"
