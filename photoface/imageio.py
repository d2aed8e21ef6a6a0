"""Open any photo as an upright RGB image, cheaply, or fail with ``ImageLoadError``.

The detector may see a reduced copy (``scale`` < 1); everything it reports is mapped back to
the full-resolution, orientation-corrected frame with ``LoadedImage.scale``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photoface import config
from photoface.errors import ImageLoadError

# EXIF orientations 5-8 swap width and height.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}

try:  # HEIC/HEIF is an optional extra: pip install "photoface[heif]"
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:
    HEIF_SUPPORTED = False

HEIF_SUFFIXES = {".heic", ".heif"}


@dataclass(frozen=True)
class LoadedImage:
    """An upright RGB image plus what is needed to map it back to the original photo."""

    image: Image.Image  # mode RGB, orientation applied, possibly reduced
    full_size: tuple[int, int]  # (width, height) of the orientation-corrected original
    orientation: int  # EXIF orientation tag of the file (1 = none)
    taken_at: str | None = None  # EXIF DateTimeOriginal as ISO 8601, if the file has one

    @property
    def scale(self) -> float:
        """Full-resolution pixels per pixel of ``image`` (>= 1)."""
        return self.full_size[0] / self.image.width

    def array(self) -> np.ndarray:
        return np.asarray(self.image)


def load_image(
    source: str | Path | Image.Image, max_side: int | None = config.MAX_DETECTION_SIDE, data: bytes | None = None
) -> LoadedImage:
    """Decode ``source`` to upright RGB whose longer side is at most ``max_side`` (None: full size).

    ``data``, when given, is the file's content already read (the scanner hashes it too).
    Raises ``ImageLoadError`` with the path and a human reason for every unreadable file.
    """
    if isinstance(source, Image.Image):
        return _prepare(source, max_side, "<image>")
    path = Path(source)
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            return _prepare(img, max_side, str(path))
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied: check the file's read permission") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "is a directory, not an image") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, _unidentified_reason(path, data)) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(path, f"cannot decode image ({_first_line(exc)})") from None


def _prepare(img: Image.Image, max_side: int | None, name: str) -> LoadedImage:
    width, height = img.size
    if width * height > config.MAX_IMAGE_PIXELS:
        raise ImageLoadError(
            name,
            f"{width}x{height} pixels is over the {config.MAX_IMAGE_PIXELS:,}-pixel "
            "limit (possible decompression bomb)",
        )
    orientation, taken_at = _exif_fields(img)
    full_size = (height, width) if orientation in _TRANSPOSED_ORIENTATIONS else (width, height)
    if max_side and img.format == "JPEG":
        # DCT-domain downscaling: decodes at 1/2, 1/4 or 1/8 size, never below the request.
        factor = max(full_size) / max_side
        if factor >= 2:
            img.draft("RGB", (int(img.width / factor), int(img.height / factor)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img.load()
    upright = ImageOps.exif_transpose(img) if orientation != 1 else img
    rgb = to_rgb(upright)
    if max_side and max(rgb.size) > max_side:
        rgb = ImageOps.contain(rgb, (max_side, max_side), Image.Resampling.BILINEAR)
    return LoadedImage(rgb, full_size, orientation, taken_at)


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: alpha composited on white, 16-bit and float scaled to 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's own conversion clips 16-bit values at 255; scale them instead.
        data = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or data.max() > 255 else 255.0
        img = Image.fromarray(np.clip(data * (255.0 / peak), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA") and ("transparency" in img.info or img.mode == "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _exif_fields(img: Image.Image) -> tuple[int, str | None]:
    """EXIF orientation (1 if absent or damaged) and DateTimeOriginal as ISO 8601."""
    try:
        exif = img.getexif()
        orientation = int(exif.get(0x0112, 1))
        stamp = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    except (ValueError, TypeError, OSError, SyntaxError, KeyError):
        return 1, None  # unreadable EXIF is not a reason to lose the photo
    return (orientation if 1 <= orientation <= 8 else 1), _iso_date(stamp)


def _iso_date(stamp: object) -> str | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" as "YYYY-MM-DDTHH:MM:SS"; None for blanks and junk."""
    if not isinstance(stamp, str) or len(stamp) < 19:
        return None
    text = stamp[:10].replace(":", "-") + "T" + stamp[11:19]
    digits = text.replace("-", "").replace("T", "").replace(":", "")
    return text if digits.isdigit() and not digits.startswith("0000") else None


def _unidentified_reason(path: Path, data: bytes | None) -> str:
    if path.suffix.lower() in HEIF_SUFFIXES and not HEIF_SUPPORTED:
        return 'HEIC/HEIF needs the optional extra: pip install "photoface[heif]"'
    if (len(data) if data is not None else path.stat().st_size) == 0:
        return "empty file (0 bytes)"
    return "not an image Pillow can read (wrong extension or damaged file)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
