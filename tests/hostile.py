"""A library of broken and odd image files, generated on the spot (no binary fixtures).

What image libraries' own test suites hold, by kind: every format Pillow writes, cut short at
several offsets and with flipped bits in header and data; headers that claim huge sizes;
unusual modes and depths; animations and multipage files; non-images with a photo's name; and
things that are not files at all.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}
TRUNCATIONS = (0.1, 0.5, 0.9)  # keep this fraction of the file


def photo_like(size: tuple[int, int] = (160, 120), seed: int = 0) -> Image.Image:
    """Smooth gradients with texture: compresses like a photo, decodes to known pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([x * 255 / size[0], y * 255 / size[1], (x + y) % 256], axis=-1)
    pixels += rng.normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def flipped(data: bytes, start: int, stop: int, step: int) -> bytes:
    damaged = bytearray(data)
    for offset in range(start, min(stop, len(damaged)), step):
        damaged[offset] ^= 0xA5
    return bytes(damaged)


def bmp_header(width: int, height: int) -> bytes:
    """A BMP whose header claims ``width`` x ``height`` 24-bit pixels, followed by a few bytes."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + b"\0" * 16


def gif_header(screen: tuple[int, int], frame_top: int, frame: tuple[int, int]) -> bytes:
    """A GIF whose first frame, placed at ``frame_top``, reaches past the 16-bit screen size."""
    screen_descriptor = struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image_descriptor = b"," + struct.pack("<HHHHB", 0, frame_top, *frame, 0)
    return b"GIF89a" + screen_descriptor + image_descriptor + b"\x02\x02\x44\x01\x00;"


def damaged_copies(folder: Path) -> dict[str, bytes]:
    """Each format written whole, truncated, with flipped bits, and at 1x1 pixel."""
    files = {}
    for number, (fmt, suffix) in enumerate(FORMATS.items()):
        good = encoded(photo_like(seed=number), fmt)
        files[f"{fmt}-good.{suffix}"] = good
        files[f"{fmt}-1x1.{suffix}"] = encoded(Image.new("RGB", (1, 1), (200, 30, 30)), fmt)
        for fraction in TRUNCATIONS:
            files[f"{fmt}-cut{int(fraction * 100)}.{suffix}"] = good[: int(len(good) * fraction)]
        files[f"{fmt}-cut-last-byte.{suffix}"] = good[:-1]
        files[f"{fmt}-header-flips.{suffix}"] = flipped(good, 2, 48, 3)
        files[f"{fmt}-data-flips.{suffix}"] = flipped(good, len(good) // 3, len(good), 97)
        files[f"{fmt}-zeros.{suffix}"] = b"\0" * len(good)
    for compression in ("tiff_lzw", "tiff_adobe_deflate"):  # decoded by libtiff, which talks on stderr
        good = encoded(photo_like(seed=7), "TIFF", compression=compression)
        files[f"TIFF-{compression}-data-flips.tif"] = flipped(good, len(good) // 3, len(good), 97)
        files[f"TIFF-{compression}-cut90.tif"] = good[: int(len(good) * 0.9)]
    return files


def odd_images() -> dict[str, bytes]:
    """Valid files in the modes, depths and layouts that trip up loaders."""
    base = photo_like()
    gray = base.convert("L")
    frames = [photo_like(seed=seed) for seed in range(3)]
    files = {
        "tiff-16bit.tif": encoded(Image.fromarray(np.asarray(gray, np.uint16) * 257), "TIFF"),
        "tiff-32bit-int.tif": encoded(gray.convert("I"), "TIFF"),
        "tiff-float.tif": encoded(gray.convert("F"), "TIFF"),
        "tiff-1bit.tif": encoded(gray.convert("1"), "TIFF", compression="group4"),
        "tiff-lzw.tif": encoded(base, "TIFF", compression="tiff_lzw"),
        "tiff-multipage.tif": encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "cmyk.jpg": encoded(base.convert("CMYK"), "JPEG"),
        "progressive.jpg": encoded(base, "JPEG", progressive=True),
        "gray.jpg": encoded(gray, "JPEG"),
        "la.png": encoded(base.convert("LA"), "PNG"),
        "p-transparent.png": encoded(base.convert("P"), "PNG", transparency=0),
        "rgba-clear.png": encoded(Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "PNG"),
        "1bit.png": encoded(gray.convert("1"), "PNG"),
        "1bit.bmp": encoded(gray.convert("1"), "BMP"),
        "16bit.png": encoded(Image.fromarray(np.asarray(gray, np.uint16) * 257), "PNG"),
        "animated.gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "animated.webp": encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
        "animated.png": encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
        "strip-30000x2.png": encoded(Image.new("RGB", (30000, 2), (90, 90, 90)), "PNG"),
        "strip-2x30000.png": encoded(Image.new("RGB", (2, 30000), (90, 90, 90)), "PNG"),
        "bmp-3000000x2000000.bmp": bmp_header(3_000_000, 2_000_000),
        "gif-65535x66601.gif": gif_header((65535, 65535), 1066, (65535, 65535)),
    }
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0132] = "garbage\0\xff"
    files["exif-rotated.jpg"] = encoded(base, "JPEG", exif=exif)
    files["exif-broken.jpg"] = flipped(files["exif-rotated.jpg"], 30, 60, 2)
    return files


def not_images() -> dict[str, bytes]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("holiday.jpg", b"not really")
    return {
        "notes.jpg": b"Dear diary,\nthis is a text file with a photo's name.\n" * 20,
        "archive.jpg": archive.getvalue(),
        "document.jpg": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 5,
        "html.png": b"<!doctype html><html><body>404 Not Found</body></html>",
        "empty.webp": b"",
    }


def write_library(folder: Path) -> dict[str, str]:
    """Write every file above into ``folder``; returns {name: kind}. Also the non-files that a
    scan must skip: a FIFO, a symbolic link to a device and a folder named like a photo."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}
    for kind, files in (("damaged", damaged_copies(folder)), ("odd", odd_images()), ("not image", not_images())):
        for name, data in files.items():
            (folder / name).write_bytes(data)
            kinds[name] = kind
    os.mkfifo(folder / "pipe.jpg")
    (folder / "device.jpg").symlink_to("/dev/zero")
    (folder / "folder.jpg").mkdir()
    return kinds


SKIPPED_NON_FILES = ("pipe.jpg", "device.jpg", "folder.jpg")
