"""HEIC and RAW photos scan like JPEGs: same faces, same boxes, same person, upright once.

No binary fixtures: the HEIC files are written here with pillow-heif and the DNG files by
``write_dng`` (a camera's layout: a JPEG preview in IFD0, the Bayer mosaic in a SubIFD) from
shared photos, so both of photoface's RAW paths, the preview and LibRaw's decode, are run.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photoface.cli import EXIT_PARTIAL, app
from photoface.imageio import load_image
from photoface.regions import iou
from tests.conftest import data_path

runner = CliRunner()

# TIFF field types: BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL -> struct format, bytes per value.
_FIELD_FORMATS = {1: "B", 3: "H", 4: "I", 5: "I", 10: "i"}
_FIELD_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 10: 8}
# XYZ to linear sRGB: the DNG's ColorMatrix1, so that the mosaic's colours are the photo's.
_XYZ_TO_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))
TAKEN = "2021:03:04 05:06:07"


def stored_turned(upright: Image.Image, orientation: int) -> Image.Image:
    """What a camera stores for ``upright`` when it writes EXIF ``orientation`` (1, 3, 6 or 8)."""
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    rgb = upright.convert("RGB")
    return rgb.transpose(turn[orientation]) if orientation in turn else rgb


def write_heic(upright: Image.Image, path: Path, orientation: int = 1) -> None:
    """``upright`` as a phone saves it: stored turned, with EXIF ``orientation`` and a date."""
    stored = stored_turned(upright, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    stored.save(path, "HEIF", quality=90, exif=exif.tobytes())


def write_dng(upright: Image.Image, path: Path, preview_side: int | None = None, orientation: int = 1) -> None:
    """A DNG of ``upright`` as a camera writes one: IFD0 a JPEG preview (longer side at most
    ``preview_side``; None: full size), its SubIFD the RGGB mosaic (16-bit linear), an EXIF IFD
    with DateTimeOriginal. The sensor holds the picture turned as EXIF ``orientation`` says."""
    stored = stored_turned(upright, orientation)
    mosaic = _mosaic(stored)
    preview = stored.copy()
    if preview_side:
        preview.thumbnail((preview_side, preview_side))
    buffer = io.BytesIO()
    preview.save(buffer, "JPEG", quality=90)
    jpeg, sensor = buffer.getvalue(), mosaic.tobytes()
    matrix = tuple(v for row in _XYZ_TO_SRGB for c in row for v in (round(c * 10000), 10000))
    height, width = mosaic.shape

    def ifd0(sub_at: int, exif_at: int, jpeg_at: int) -> list:
        return [
            (254, 4, (1,)), (256, 4, (preview.width,)), (257, 4, (preview.height,)), (258, 3, (8, 8, 8)),
            (259, 3, (7,)), (262, 3, (6,)), (271, 2, b"photoface\0"), (272, 2, b"test DNG\0"),
            (273, 4, (jpeg_at,)), (274, 3, (orientation,)), (277, 3, (3,)), (278, 4, (preview.height,)),
            (279, 4, (len(jpeg),)), (284, 3, (1,)), (330, 4, (sub_at,)), (34665, 4, (exif_at,)),
            (50706, 1, (1, 4, 0, 0)), (50708, 2, b"photoface test\0"), (50721, 10, matrix),
            (50728, 5, (1, 1, 1, 1, 1, 1)), (50778, 3, (21,)),
        ]  # fmt: skip

    def sub(sensor_at: int) -> list:
        return [
            (254, 4, (0,)), (256, 4, (width,)), (257, 4, (height,)), (258, 3, (16,)), (259, 3, (1,)),
            (262, 3, (32803,)), (273, 4, (sensor_at,)), (277, 3, (1,)), (278, 4, (height,)),
            (279, 4, (len(sensor),)), (284, 3, (1,)), (33421, 3, (2, 2)), (33422, 1, (0, 1, 1, 2)),
            (50714, 3, (0,)), (50717, 4, (65535,)),
        ]  # fmt: skip

    exif = [(36867, 2, TAKEN.encode() + b"\0")]
    # As cameras do: the directories first (their sizes do not depend on the offsets in them), then the pixels.
    sub_at = 8 + len(_ifd(ifd0(0, 0, 0), 8))
    exif_at = sub_at + len(_ifd(sub(0), sub_at))
    jpeg_at = exif_at + len(_ifd(exif, exif_at))
    sensor_at = jpeg_at + len(jpeg) + len(jpeg) % 2
    directories = _ifd(ifd0(sub_at, exif_at, jpeg_at), 8) + _ifd(sub(sensor_at), sub_at) + _ifd(exif, exif_at)
    header = struct.pack("<2sHI", b"II", 42, 8)
    path.write_bytes(header + directories + jpeg + b"\0" * (len(jpeg) % 2) + sensor)


def _ifd(tags: list, offset: int) -> bytes:
    """One little-endian TIFF directory placed at ``offset``, the values over 4 bytes right after it."""
    after = offset + 2 + 12 * len(tags) + 4
    entries, extra = [], b""
    for tag, kind, values in sorted(tags):
        payload = values if isinstance(values, bytes) else struct.pack(f"<{len(values)}{_FIELD_FORMATS[kind]}", *values)
        if len(payload) <= 4:
            field = payload.ljust(4, b"\0")
        else:
            field = struct.pack("<I", after + len(extra))
            extra += payload + b"\0" * (len(payload) % 2)
        entries.append(struct.pack("<HHI", tag, kind, len(payload) // _FIELD_BYTES[kind]) + field)
    return struct.pack("<H", len(tags)) + b"".join(entries) + struct.pack("<I", 0) + extra


def _mosaic(rgb_image: Image.Image) -> np.ndarray:
    """The RGGB Bayer mosaic a sensor would have recorded: linear light, 16 bits, even size."""
    rgb = np.asarray(rgb_image, dtype=np.float64) / 255.0
    rgb = rgb[: rgb.shape[0] & ~1, : rgb.shape[1] & ~1]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    values = np.round(linear * 65535).astype("<u2")
    mosaic = values[:, :, 1].copy()
    mosaic[0::2, 0::2] = values[0::2, 0::2, 0]
    mosaic[1::2, 1::2] = values[1::2, 1::2, 2]
    return mosaic


def _faces_by_photo(db: Path) -> dict[str, list[dict]]:
    result = runner.invoke(app, ["--db", str(db), "faces", "--json"])
    assert result.exit_code == 0, result.output
    faces: dict[str, list[dict]] = {}
    for face in json.loads(result.stdout):
        faces.setdefault(Path(face["photo"]).name, []).append(face)
    return faces


def _scan(db: Path, library: Path) -> dict:
    result = runner.invoke(app, ["--db", str(db), "scan", "--json", str(library)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _assert_same_boxes(found: list[dict], expected: list[dict], scale: float = 1.0) -> None:
    """Same faces as the JPEG's: one box each, within 3% of the face's size (a few pixels)."""
    assert len(found) == len(expected) >= 1
    for face in expected:
        best = max(found, key=lambda other: iou(tuple(v * scale for v in other["box"]), face["box"]))
        tolerance = 0.03 * face["box"][2] + 2 * scale
        assert np.allclose([v * scale for v in best["box"]], face["box"], atol=tolerance), (best, face)


def test_heic_and_dng_scan_like_the_jpeg_and_cluster_with_it(tmp_path):
    people = data_path("people")
    emma = sorted((people / "emma_watson").glob("*.jpg"))[:8]
    library = tmp_path / "library"
    library.mkdir()
    for photo in [*emma[1:6], *sorted((people / "iu").glob("*.jpg"))[:5]]:
        shutil.copy(photo, library / photo.name)
    with Image.open(emma[0]) as first, Image.open(emma[6]) as seventh, Image.open(emma[7]) as eighth:
        shutil.copy(emma[0], library / "first.jpg")
        write_heic(first, library / "first.heic")
        write_dng(first, library / "first_preview.dng")  # full-size preview: read as it is
        write_dng(first, library / "first_decoded.DNG", preview_side=160)  # thumbnail only: LibRaw decodes
        write_heic(seventh, library / "seventh.heic")
        write_dng(eighth, library / "eighth.dng", preview_side=160)
        width = first.width
    report = _scan(tmp_path / "c.db", library)
    assert report["failed"] == 0 and report["new"] == 16
    faces = _faces_by_photo(tmp_path / "c.db")
    _assert_same_boxes(faces["first.heic"], faces["first.jpg"])
    _assert_same_boxes(faces["first_preview.dng"], faces["first.jpg"])
    # The half-size decode is the frame its boxes are in (what thumbnails and serve load too).
    _assert_same_boxes(faces["first_decoded.DNG"], faces["first.jpg"], scale=width / (width // 2))

    assert runner.invoke(app, ["--db", str(tmp_path / "c.db"), "cluster"]).exit_code == 0
    faces = _faces_by_photo(tmp_path / "c.db")
    emma_people = [face["person"] for photo in emma[1:6] for face in faces[photo.name] if face["size"] > 100]
    emma_person = max(set(emma_people), key=emma_people.count)
    assert emma_person is not None and emma_people.count(emma_person) >= 4
    for name in ("seventh.heic", "eighth.dng"):
        assert emma_person in {face["person"] for face in faces[name]}, name


@pytest.mark.parametrize("kind", ["heic", "dng preview", "dng decoded"])
def test_a_turned_photo_comes_out_upright_once(engine, kind, tmp_path):
    photo = data_path("people", "emma_watson") / "emma_watson_01.jpg"
    with Image.open(photo) as upright:
        path = tmp_path / ("turned.heic" if kind == "heic" else "turned.dng")
        if kind == "heic":
            write_heic(upright, path, orientation=6)
        else:
            write_dng(upright, path, preview_side=160 if kind == "dng decoded" else None, orientation=6)
        expected = upright.resize((upright.width // 2, upright.height // 2)) if kind == "dng decoded" else upright
        expected = expected.convert("RGB")
    loaded = load_image(path, None)
    assert (loaded.orientation, loaded.taken_at) == (6, "2021-03-04T05:06:07")
    assert loaded.full_size == loaded.image.size
    assert abs(loaded.full_size[0] - expected.width) <= 1 and abs(loaded.full_size[1] - expected.height) <= 1
    # Upright, not turned twice: the pixels are the upright photo's (a colour-true, not exact, decode).
    difference = np.abs(np.asarray(loaded.image.resize(expected.size), float) - np.asarray(expected, float))
    assert difference.mean() < 12
    faces, reference = engine.analyze(path), engine.analyze(expected)
    assert len(faces) == len(reference) >= 1
    assert iou(faces[0].box, reference[0].box) > 0.8


def test_damaged_and_mislabelled_raw_files_fail_with_one_line_reasons(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    with Image.open(data_path("people", "emma_watson") / "emma_watson_01.jpg") as upright:
        write_dng(upright, library / "good.dng")
        write_dng(upright, tmp_path / "thumbnail_only.dng", preview_side=160)
    good, thumbnail_only = (library / "good.dng").read_bytes(), (tmp_path / "thumbnail_only.dng").read_bytes()
    (library / "preview_then_cut.dng").write_bytes(good[: len(good) // 2])  # the preview whole, half the sensor
    (library / "cut_in_directories.dng").write_bytes(good[:300])
    (library / "cut_in_sensor.dng").write_bytes(thumbnail_only[: len(thumbnail_only) // 2])  # must decode: cannot
    (library / "notes.cr2").write_text("shopping list: milk, eggs\n" * 20)
    write_dng(Image.new("RGB", (64, 48), "gray"), tmp_path / "tiny.dng", preview_side=16)
    claims = {256: (64, 30000), 257: (48, 30000)}  # width and height: a 900-megapixel sensor in a 6 kB file
    bomb = (tmp_path / "tiny.dng").read_bytes()
    for tag, (real, claimed) in claims.items():
        bomb = bomb.replace(struct.pack("<HHII", tag, 4, 1, real), struct.pack("<HHII", tag, 4, 1, claimed))
    (library / "bomb.dng").write_bytes(bomb)
    (library / "empty.NEF").write_bytes(b"")
    (library / "noise.arw").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", "--json", str(library)])
    assert result.exit_code == EXIT_PARTIAL, result.output
    report = json.loads(result.stdout)
    reasons = {Path(failure["path"]).name: failure["error"] for failure in report["failures"]}
    failed = {"cut_in_directories.dng", "cut_in_sensor.dng", "notes.cr2", "empty.NEF", "noise.arw", "bomb.dng"}
    assert set(reasons) == failed
    assert all("\n" not in reason for reason in reasons.values())
    assert "text file" in reasons["notes.cr2"] and "wrong extension" in reasons["notes.cr2"]
    assert "empty file" in reasons["empty.NEF"]
    assert "not a RAW file LibRaw" in reasons["cut_in_directories.dng"]
    assert "not a RAW file LibRaw" in reasons["noise.arw"]
    assert "damaged RAW file" in reasons["cut_in_sensor.dng"]
    assert "30000x30000 sensor is over the 200,000,000-pixel limit" in reasons["bomb.dng"]
    # A file whose preview is whole is still a photo: it is read through the preview.
    assert report["faces"] == 2


def test_a_broken_pillow_heif_install_is_named_with_its_fix(tmp_path):
    with Image.open(data_path("people", "emma_watson") / "emma_watson_01.jpg") as photo:
        write_heic(photo, tmp_path / "phone.heic")
    without_heif = (
        "import sys; sys.modules['pillow_heif'] = None\n"  # as if its wheel were missing or broken
        "from photoface.errors import ImageLoadError\n"
        "from photoface.imageio import load_image\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageLoadError as exc:\n    print(exc.reason)"
    )
    command = [sys.executable, "-c", without_heif, str(tmp_path / "phone.heic")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    reason = done.stdout.strip()
    assert reason.startswith("pillow-heif cannot be imported") and "pip install --force-reinstall pillow-heif" in reason
    assert "\n" not in reason


@pytest.mark.parametrize("preview_side", [None, 160])
def test_a_raw_has_one_frame_at_every_size_asked(preview_side, tmp_path):
    """The scan (1280), thumbnails (1600), serve (any side) and region export (full size) must
    read a RAW the same way, the preview or the decode, or their boxes would not line up."""
    with Image.open(data_path("people", "emma_watson") / "emma_watson_01.jpg") as photo:
        write_dng(photo, tmp_path / "photo.dng", preview_side=preview_side)
        expected = photo.size if preview_side is None else (photo.width // 2, photo.height // 2)  # half the sensor
    frames = {load_image(tmp_path / "photo.dng", side).full_size for side in (None, 1600, 1280, 320)}
    assert frames == {expected}
