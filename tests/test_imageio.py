"""Loading real and damaged files: upright RGB or a typed error, never a crash."""

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoface.errors import ImageLoadError
from photoface.imageio import load_image


def _photo(size=(120, 80)) -> Image.Image:
    """A test pattern: red left half, blue right half."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, : size[0] // 2] = (255, 0, 0)
    pixels[:, size[0] // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    path = tmp_path / "sideways.jpg"
    _photo().save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.orientation == 6
    assert loaded.full_size == (80, 120) and loaded.image.size == (80, 120)
    top, bottom = loaded.array()[5, 40], loaded.array()[-5, 40]
    assert top[0] > 200 and bottom[2] > 200  # left half (red) is now on top


@pytest.mark.parametrize("mode", ["CMYK", "P", "L", "LA", "RGBA", "1", "I;16", "I", "F", "PA"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    source = _photo()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(source.convert("L"), np.uint16) * 257)
        assert image.mode == "I;16"
    elif mode == "PA":
        image = source.convert("RGBA").convert("PA")
    else:
        image = source.convert(mode)
    loaded = load_image(image)
    assert loaded.image.mode == "RGB" and loaded.image.size == source.size
    if mode == "I;16":  # 16-bit must be scaled, not clipped to white
        assert 20 < loaded.array().mean() < 200


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert load_image(rgba).array().min() == 255


def test_large_jpeg_is_decoded_reduced_and_mapped_back(tmp_path):
    path = tmp_path / "phone.jpg"
    _photo((4000, 3000)).save(path, quality=80)
    loaded = load_image(path, max_side=1600)
    assert max(loaded.image.size) <= 1600
    assert loaded.full_size == (4000, 3000)
    assert loaded.scale == pytest.approx(4000 / loaded.image.width)
    assert load_image(path, max_side=None).image.size == (4000, 3000)


def _png_header_only(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.jpg"
    _photo().save(good, quality=90)
    files = {
        "zero bytes": (tmp_path / "empty.jpg", "empty file"),
        "truncated": (tmp_path / "truncated.jpg", "cannot decode"),
        "text": (tmp_path / "notes.jpg", "not an image"),
        "bomb": (tmp_path / "bomb.png", "decompression bomb"),
        "missing": (tmp_path / "missing.jpg", "file not found"),
        "directory": (tmp_path / "folder.jpg", "directory"),
    }
    files["zero bytes"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(good.read_bytes()[:400])
    files["text"][0].write_text("shopping list: milk, eggs\n")
    _png_header_only(files["bomb"][0], 30000, 30000)
    files["directory"][0].mkdir()
    return files


def test_bad_files_raise_image_load_error_with_path_and_reason(tmp_path):
    for label, (path, reason) in _bad_files(tmp_path).items():
        with pytest.raises(ImageLoadError) as caught:
            load_image(path)
        assert caught.value.path == str(path), label
        assert reason in caught.value.reason, (label, caught.value.reason)
        assert "\n" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.jpg"
    _photo().save(path)
    path.chmod(0)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(path)
