"""XMP face regions written by real tools (../shared/data/regions: Lightroom, digiKam, Mylio,
Microsoft Photo Gallery, Apple, osxphotos, exiftool and exiv2 test files; see its README).

Each file's regions are read as stated; then a copy of the corpus is scanned and every named
region of type Face must end as a face with that name under it (IoU in the upright frame),
counted per manifest row. The truth comes from elsewhere than photoface: the region areas as
exiftool reads them, turned upright by moving pixels with Pillow.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError
from typer.testing import CliRunner

from photoface.cli import app
from photoface.imageio import UPRIGHT_TRANSPOSES
from photoface.regions import embedded_xmp, iou, read_stated
from tests.conftest import data_path

runner = CliRunner()
MATCH = 0.3  # IoU of a named face with its region's true box (the import's own threshold)
# How Pillow's exif_transpose turns stored pixels upright, for each EXIF orientation.
UPRIGHT = UPRIGHT_TRANSPOSES


@dataclass(frozen=True)
class Row:
    """One manifest row: a file, the named regions of type Face it holds, and its photo."""

    file: str
    faces: list[str]  # names of the regions of type Face, as the manifest lists them
    others: list[str]  # names of named regions of other types (a pet)
    photo: str | None  # the photo this file's regions are about (itself, or the sidecar's photo)


@pytest.fixture(scope="module")
def corpus() -> Path:
    return data_path("regions")


@pytest.fixture(scope="module")
def rows(corpus) -> list[Row]:
    with open(corpus / "manifest.csv", newline="", encoding="utf-8") as handle:
        return [_row(record) for record in csv.DictReader(handle)]


def _row(record: dict) -> Row:
    count = int(record["region_count"] or 0)
    names = record["region_names"].split(" | ") if record["region_names"] else [""] * count
    types = record["region_types"].split(" | ") if count else []
    types = ["Face" if kind.startswith("(MP") else kind for kind in types]  # Microsoft regions are faces
    pairs = list(zip(names, types, strict=False))
    is_sidecar = record["file"].lower().endswith(".xmp")
    photo = ("files/" + record["sidecar_for"]) if record["sidecar_for"] else None if is_sidecar else record["file"]
    return Row(
        record["file"],
        [name for name, kind in pairs if name and kind == "Face"],
        [name for name, kind in pairs if name and kind not in ("Face", "")],
        photo,
    )


def _packet(path: Path) -> bytes | None:
    if path.suffix.lower() == ".xmp":
        return path.read_bytes()
    try:
        return embedded_xmp(path)
    except UnidentifiedImageError:
        if path.suffix.lower() in (".heic", ".heif"):  # Pillow reads these only with pillow-heif
            return None
        raise


def test_every_file_states_its_face_regions(corpus, rows):
    """Every named region of type Face is read (or skipped with a reason naming it); other types never are."""
    checked = 0
    for row in rows:
        packet = _packet(corpus / row.file)
        if packet is None or not (row.faces or row.others):
            continue
        stated = read_stated(packet)
        read = [region.name for region in stated.regions]
        for name in row.faces:
            assert name in read or any(repr(name[:40]) in line for line in stated.skipped), (row.file, name)
            checked += 1
        for name in row.others:
            assert name not in read and any(f"{name!r} is of type" in line for line in stated.skipped), row.file
    assert checked >= 40


def _truth(exiftool: str, source: Path, photo: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The named face regions of ``source`` as exiftool reads them, as boxes of the upright
    ``photo``: areas of the stored image (as the corpus README found every writer here does)
    drawn on its pixels, then turned by its EXIF orientation."""
    done = subprocess.run(
        [exiftool, "-j", "-struct", "-RegionInfo", "-RegionInfoMP", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (tags,) = json.loads(done.stdout)
    with Image.open(photo) as image:
        stored, orientation = image.size, image.getexif().get(0x0112, 1)
    regions = []
    for region in tags.get("RegionInfo", {}).get("RegionList", []):
        if region.get("Name") and region.get("Type", "Face") == "Face" and "Area" in region:
            area = region["Area"]
            rect = (area["X"] - area["W"] / 2, area["Y"] - area["H"] / 2, area["W"], area["H"])
            regions.append((region["Name"], _upright_box(rect, stored, orientation)))
    if not regions:  # Microsoft regions only: top-left x, y, w, h
        for region in tags.get("RegionInfoMP", {}).get("Regions", []):
            if region.get("PersonDisplayName") and region.get("Rectangle"):
                rect = tuple(float(v) for v in region["Rectangle"].split(","))
                regions.append((region["PersonDisplayName"], _upright_box(rect, stored, orientation)))
    return regions


def _upright_box(rect, stored: tuple[int, int], orientation: int) -> tuple[float, float, float, float]:
    width, height = stored
    x, y, w, h = rect
    mask = np.zeros((height, width), np.uint8)
    left, top = max(0, int(x * width)), max(0, int(y * height))
    right, bottom = (
        min(width, max(left + 1, round((x + w) * width))),
        min(height, max(top + 1, round((y + h) * height))),
    )
    mask[top:bottom, left:right] = 255
    image = Image.fromarray(mask)
    upright = np.asarray(image.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else image)
    rows, cols = np.nonzero(upright)
    return (cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)


def _json(db: Path, *args: str):
    result = runner.invoke(app, ["--db", str(db), *args, "--json"])
    assert result.exit_code in (0, 3), result.output  # 3: some files (a truncated JPEG) failed
    return json.loads(result.stdout)


def named_per_row(exiftool: str, library: Path, faces: list[dict], rows: list[Row]) -> dict[str, tuple[int, int]]:
    """For each row with named face regions about a photo: (regions named on their face, regions),
    from ``faces`` as ``photoface faces --json`` lists them after a scan of ``library``."""
    faces_by_photo: dict[str, list[dict]] = {}
    for face in faces:
        faces_by_photo.setdefault(face["photo"], []).append(face)
    counts = {}
    for row in rows:
        if not row.faces or row.photo is None:
            continue
        photo = library / row.photo.removeprefix("files/")
        truth = _truth(exiftool, library / row.file.removeprefix("files/"), photo)
        assert sorted(name for name, _ in truth) == sorted(row.faces), row.file  # exiftool agrees with the manifest
        mine = faces_by_photo.get(str(photo), [])
        named = sum(
            any(face["name"] == name and iou(tuple(face["box"]), box) >= MATCH for face in mine) for name, box in truth
        )
        counts[row.file] = (named, len(truth))
    return counts


def test_a_scan_of_the_corpus_names_every_face_region(exiftool, corpus, rows, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(corpus / "files", library)  # never scan or write into ../shared
    for path in library.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    db = tmp_path / "c.db"
    report = _json(db, "scan", str(library))
    counts = named_per_row(exiftool, library, _json(db, "faces"), rows)
    missed = {file: count for file, count in counts.items() if count[0] != count[1]}
    assert missed == {}
    assert sum(total for _, total in counts.values()) >= 40
    # Each named face is one region's: no region named two faces, none was named twice.
    named_faces = [face for face in _json(db, "faces") if face["name"]]
    assert len(named_faces) == report["regions"]["named"]
    assert {face["origin"] for face in named_faces} <= {None, "region", "region box"}
    skipped = report["regions"]["skipped"]
    assert any("'Bo' is of type 'Pet', not a face" in line for line in skipped)
    assert not any("'Bo'" in face["name"] for face in named_faces)
