"""Seconds per photo for the same photos as JPEG, HEIC and DNG, and how small a RAW's preview may be.

    python -m benchmarks.photo_formats                    # 5 group photos at 12 megapixels
    python -m benchmarks.photo_formats --photos 3 --megapixels 24
    python -m benchmarks.photo_formats --preview-sides    # faces found against the preview's size
    python -m benchmarks.photo_formats --peak-memory      # one 24-megapixel photo, each way, alone

The formats: each shared group photo (people/_groups) is enlarged to a camera's size and written
as a JPEG (quality 92), a HEIC (pillow-heif, quality 90), a DNG with a full-size JPEG preview (as
Canon and Nikon write: photoface reads the preview) and a DNG with only a 160-pixel thumbnail
(photoface decodes the mosaic at half size with LibRaw). Each file is read with ``load_image``
at the scan's detection size (decode) and analysed by the engine (decode + engine); faces are
compared with the JPEG's (IoU of the best match). One process, files one after another: the
ratios to JPEG matter more than the absolute seconds.

``--peak-memory``: one group photo at 24 megapixels as a JPEG, a DNG read through its preview
and a DNG decoded at half size, each loaded by ``load_image`` in a fresh process: seconds and
how much that load grew the process's peak RSS (what ``photoface.media.raw`` reserves per
sensor pixel for a decode is set from it).

``--preview-sides``: every shared group photo (people/_groups, groups/, and the large photos of
regions/) is shrunk to each candidate preview size and its faces counted against those found
at its own size (capped at the detection side): where faces stop being found is the smallest
preview photoface still uses (``photoface.media.raw.PREVIEW_MIN_SIDE``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from benchmarks.common import require_data, write_result
from photoface import config
from photoface.engine import FaceEngine
from photoface.imageio import load_image
from photoface.regions import iou
from tests.test_photo_formats import write_dng, write_heic

SIDES = (160, 240, 320, 480, 640, 800, 1024, 1280)
LARGE_PHOTOS = ("blur-exif-face-tags/unsplash.jpg", "metadata-extractor-images/Issue 177.jpg")


def write_jpeg(image: Image.Image, path: Path) -> None:
    image.save(path, "JPEG", quality=92)


FORMATS: dict[str, tuple[str, Callable[[Image.Image, Path], None]]] = {
    "JPEG": ("jpg", write_jpeg),
    "HEIC": ("heic", write_heic),
    "DNG, preview": ("dng", write_dng),
    "DNG, decoded": ("dng", lambda image, path: write_dng(image, path, preview_side=160)),
}


def camera_sized(photo: Path, megapixels: float) -> Image.Image:
    with Image.open(photo) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        return image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def best_overlaps(boxes: list, reference: list) -> list[float]:
    """For each reference box, the IoU of the best box found (0 when none)."""
    return [max((iou(box, wanted) for box in boxes), default=0.0) for wanted in reference]


def time_formats(engine: FaceEngine, photos: list[Path], megapixels: float, folder: Path) -> list[dict]:
    rows = []
    for photo in photos:
        image = camera_sized(photo, megapixels)
        reference = None
        for name, (suffix, write) in FORMATS.items():
            path = folder / f"{photo.stem}-{name.replace(', ', '-')}.{suffix}"
            write(image, path)
            started = time.perf_counter()
            loaded = load_image(path, engine.max_side)
            decoded = time.perf_counter() - started
            started = time.perf_counter()
            faces = engine.analyze(path)
            analysed = time.perf_counter() - started
            scale = image.width / loaded.full_size[0]  # a half-size decode's boxes are in its own frame
            boxes = [tuple(v * scale for v in face.box) for face in faces]
            reference = boxes if reference is None else reference
            overlaps = best_overlaps(boxes, reference)
            rows.append({
                "photo": photo.name, "format": name, "bytes": path.stat().st_size, "decode_s": decoded,
                "decode_engine_s": analysed, "faces": len(faces), "faces_as_jpeg": sum(o >= 0.5 for o in overlaps),
                "min_iou_with_jpeg": min(overlaps, default=1.0), "frame": list(loaded.full_size),
            })  # fmt: skip
            path.unlink()
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    jpeg = {row["photo"]: row for row in rows if row["format"] == "JPEG"}
    summary = []
    for name in FORMATS:
        mine = [row for row in rows if row["format"] == name]
        decode = sum(row["decode_s"] for row in mine) / len(mine)
        total = sum(row["decode_engine_s"] for row in mine) / len(mine)
        summary.append({
            "format": name, "decode_s": round(decode, 4), "decode_engine_s": round(total, 4),
            "decode_vs_jpeg": round(decode / (sum(r["decode_s"] for r in jpeg.values()) / len(jpeg)), 2),
            "decode_engine_vs_jpeg": round(total / (sum(r["decode_engine_s"] for r in jpeg.values()) / len(jpeg)), 2),
            "faces": sum(row["faces"] for row in mine), "faces_as_jpeg": sum(row["faces_as_jpeg"] for row in mine),
            "jpeg_faces": sum(jpeg[row["photo"]]["faces"] for row in mine),
            "mb_per_file": round(sum(row["bytes"] for row in mine) / len(mine) / 2**20, 1),
        })  # fmt: skip
    return summary


def preview_sides(engine: FaceEngine) -> dict:
    """Faces found with each photo shrunk to each side, against those found at its own size
    (over the photos larger than that side: a smaller one is its own preview)."""
    photos = sorted(require_data("people", "_groups").glob("*.jpg")) + sorted(require_data("groups").glob("*.jpg"))
    photos += [require_data("regions", "files", *name.split("/")) for name in LARGE_PHOTOS]
    found = {side: {"photos": 0, "faces_at_own_size": 0, "found": 0} for side in SIDES}
    for photo in photos:
        image = load_image(photo, None).image
        reference = [face.box for face in engine.analyze(image)]
        for side in (side for side in SIDES if side < max(image.size)):
            small = image.copy()
            small.thumbnail((side, side), Image.LANCZOS)
            scale = image.width / small.width
            boxes = [tuple(v * scale for v in face.box) for face in engine.analyze(small)]
            cell = found[side]
            cell["photos"] += 1
            cell["faces_at_own_size"] += len(reference)
            cell["found"] += sum(overlap >= 0.5 for overlap in best_overlaps(boxes, reference))
    for cell in found.values():
        cell["share"] = round(cell["found"] / max(cell["faces_at_own_size"], 1), 3)
    return {"photos": len(photos), "found_by_side": found}


# Run in a fresh process: the growth of its peak RSS over one load_image is that load's cost.
# (VmHWM, not ru_maxrss: that one starts from the forking parent's peak.)
PEAK_PROBE = """
import json, sys, time
from benchmarks.common import vm_hwm_mb
from photoface.imageio import load_image
before, started = vm_hwm_mb("self"), time.perf_counter()
loaded = load_image(sys.argv[1])
seconds = time.perf_counter() - started
grown = vm_hwm_mb("self") - before
print(json.dumps({"seconds": round(seconds, 3), "peak_rss_growth_mb": round(grown), "frame": loaded.full_size}))
"""


def peak_memory(folder: Path) -> dict:
    image = camera_sized(sorted(require_data("people", "_groups").glob("*.jpg"))[5], 24)
    cases = {"JPEG": "jpg", "DNG, preview": "dng", "DNG, decoded": "dng"}
    result = {"megapixels": round(image.width * image.height / 1e6, 1)}
    for name, suffix in cases.items():
        path = folder / f"peak-{name.replace(', ', '-')}.{suffix}"
        FORMATS[name][1](image, path)
        command = [sys.executable, "-c", PEAK_PROBE, str(path)]
        probe = subprocess.run(command, capture_output=True, text=True, check=True)
        result[name] = json.loads(probe.stdout)
        path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5, help="how many group photos to time")
    parser.add_argument("--megapixels", type=float, default=12.0, help="the camera size the photos are made")
    parser.add_argument("--preview-sides", action="store_true", help="measure the smallest usable preview")
    parser.add_argument("--peak-memory", action="store_true", help="memory of one 24-megapixel load, each way")
    args = parser.parse_args()
    engine = FaceEngine.from_profile(config.DEFAULT_PROFILE, device="cpu")
    console = Console(width=120)
    if args.peak_memory:
        with tempfile.TemporaryDirectory() as folder:
            result = peak_memory(Path(folder))
        console.print(result)
        console.print(f"wrote {write_result('photo_formats_peak_memory', result)}")
        return
    if args.preview_sides:
        result = preview_sides(engine)
        table = Table("preview's longer side", "photos larger", "their faces at own size", "found in preview", "share")
        for side, cell in result["found_by_side"].items():
            counts = (str(cell[key]) for key in ("photos", "faces_at_own_size", "found"))
            table.add_row(str(side), *counts, f"{cell['share']:.1%}")
        console.print(table)
        console.print(f"wrote {write_result('photo_formats_preview_sides', result)}")
        return
    photos = sorted(require_data("people", "_groups").glob("*.jpg"))[: args.photos]
    engine.analyze(camera_sized(photos[0], 1))  # models loaded before anything is timed
    with tempfile.TemporaryDirectory() as folder:
        rows = time_formats(engine, photos, args.megapixels, Path(folder))
    summary = summarise(rows)
    table = Table("format", "MB/file", "decode s", "x JPEG", "decode+engine s", "x JPEG", "faces (as JPEG's)")
    for row in summary:
        table.add_row(
            row["format"], f"{row['mb_per_file']}", f"{row['decode_s']:.3f}", f"{row['decode_vs_jpeg']:.2f}",
            f"{row['decode_engine_s']:.3f}", f"{row['decode_engine_vs_jpeg']:.2f}",
            f"{row['faces']} ({row['faces_as_jpeg']} of {row['jpeg_faces']})",
        )  # fmt: skip
    console.print(table)
    payload = {"photos": len(photos), "megapixels": args.megapixels, "summary": summary, "files": rows}
    console.print(f"wrote {write_result('photo_formats', payload)}")


if __name__ == "__main__":
    main()
