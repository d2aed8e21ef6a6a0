"""Open any photo as an upright RGB image, cheaply, or fail with ``ImageLoadError``.

Pillow reads the common formats, pillow-heif HEIC/HEIF, and ``photoface.media.raw`` gives camera
RAW files (their preview, or a half-size decode) as pictures finished here like any other.

The detector may see a reduced copy (``scale`` < 1); everything it reports is mapped back to
the full-resolution, orientation-corrected frame with ``LoadedImage.scale``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from photoface import config
from photoface.errors import ImageLoadError
from photoface.media import RAW_SUFFIXES, raw

# EXIF orientations 5-8 swap width and height.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}

try:  # a dependency: only a broken install lacks it, and then HEIC files say so (_unidentified_reason)
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_MISSING: str | None = None
except ImportError as exc:  # pillow-heif absent, or its libheif failed to load
    HEIF_MISSING = f"pillow-heif cannot be imported ({exc}): pip install --force-reinstall pillow-heif"

HEIF_SUFFIXES = {".heic", ".heif"}

# Pillow's own size check goes through the process-wide warnings filters (a warning above 89.5
# megapixels, an error above twice that), which no thread may change per image while another
# decodes. photoface checks every header against its own limit instead (``_prepare``), so
# Pillow's is switched off once, here, for the whole process.
Image.MAX_IMAGE_PIXELS = None

_this_thread = threading.local()
_in_flight: dict[int, str] = {}  # thread id -> file it is decoding
# Called in the decoding thread before a decode's outcome is settled, to collect what native
# libraries printed meanwhile (``photoface.terminal`` registers one while a command runs).
end_of_decode_hooks: list[Callable[[], None]] = []


@contextmanager
def decoding(path: str) -> Iterator[list[str]]:
    """Mark this thread as decoding ``path`` while the block runs.

    Yields the list that ``note_warning`` fills with what libraries said about this file.
    """
    said: list[str] = []
    _this_thread.current = (path, said)
    _in_flight[threading.get_ident()] = path
    try:
        yield said
    finally:
        collect_native_messages()
        _this_thread.current = None
        _in_flight.pop(threading.get_ident(), None)


def collect_native_messages() -> None:
    for hook in end_of_decode_hooks:
        hook()


def note_warning(message: str, *, only_if_alone: bool = False) -> str | None:
    """Keep a library's message with the file this thread is decoding; returns that file.

    ``only_if_alone``: for messages with no owner (native stderr), kept only when no other
    thread is decoding, so another file's complaint is never pinned on this one.
    """
    current = getattr(_this_thread, "current", None)
    if current is None or (only_if_alone and len(_in_flight) > 1):
        return None
    current[1].append(message)
    return current[0]


def files_in_flight() -> list[str]:
    return sorted(set(_in_flight.values()))


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
    Raises ``ImageLoadError`` with the path and a human reason for every unreadable file: files
    are hostile input, so any exception a decoder raises on one becomes that file's reason.
    Safe to call from several threads at once: nothing process-wide is changed per image.
    """
    if isinstance(source, Image.Image):
        return _prepare(source, max_side, "<image>")
    path = Path(source)
    with decoding(str(path)) as said:
        try:
            if path.suffix.lower() in RAW_SUFFIXES:
                return _load_raw(path, max_side, data)
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
        except (UnidentifiedImageError, raw.NotRawError):
            raise ImageLoadError(path, _unidentified_reason(path, data)) from None
        except MemoryError:
            raise ImageLoadError(path, "not enough memory to decode it") from None
        except Exception as exc:  # a damaged file may make a decoder raise anything
            collect_native_messages()  # what libtiff or libjpeg printed may say why
            raise ImageLoadError(path, _decode_reason(exc, said)) from None


def _load_raw(path: Path, max_side: int | None, data: bytes | None) -> LoadedImage:
    """A RAW file through its preview, or a half-size decode where it has none big enough."""
    with raw.opened(path, data) as raw_file:
        picture = raw_file.preview()
        if picture is None:
            with _DECODE_MEMORY.reserve(raw_file.decode_bytes):
                picture = raw_file.decode()
        with picture.image as img:
            exif = picture.exif if picture.exif is not None else _read_exif(img)
            return _prepare(img, max_side, str(path), (picture.orientation, _exif_fields(exif)[1]))


def _prepare(
    img: Image.Image, max_side: int | None, name: str, fields: tuple[int, str | None] | None = None
) -> LoadedImage:
    """``img`` upright, RGB and reduced; ``fields`` (orientation, taken_at) where not in its own EXIF."""
    width, height = img.size
    if width * height > config.MAX_IMAGE_PIXELS:
        limit = f"{config.MAX_IMAGE_PIXELS:,}-pixel limit"
        raise ImageLoadError(name, f"{width}x{height} pixels is over the {limit} (possible decompression bomb)")
    if width < 1 or height < 1:
        raise ImageLoadError(name, f"{width}x{height} pixels: the header claims an empty image")
    orientation, taken_at = fields or _exif_fields(_read_exif(img))
    turn = orientation
    if img.format == "HEIF":
        # libheif applies the container's rotation (irot/imir) as it decodes, whatever the EXIF
        # says (pillow-heif keeps the EXIF tag as original_orientation): never turn twice.
        orientation, turn = img.info.get("original_orientation") or orientation, 1
    full_size = (height, width) if turn in _TRANSPOSED_ORIENTATIONS else (width, height)
    if max_side and img.format == "JPEG":
        # DCT-domain downscaling: decodes at 1/2, 1/4 or 1/8 size, never below the request.
        factor = max(full_size) / max_side
        if factor >= 2:
            img.draft("RGB", (int(img.width / factor), int(img.height / factor)))
    with _DECODE_MEMORY.reserve(img.width * img.height * _bytes_per_pixel(img.mode)):
        img.load()
        if max_side and max(img.size) > max_side:
            # Shrink in the decoded mode, before any conversion makes full-size copies.
            img = img.resize(fit_within(img.size, max_side), Image.Resampling.BILINEAR)
    if turn in UPRIGHT_TRANSPOSES:
        img = img.transpose(UPRIGHT_TRANSPOSES[turn])
    return LoadedImage(to_rgb(img), full_size, orientation, taken_at)


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled so its longer side is ``max_side``; never below 1 pixel (a 30000x3 strip)."""
    scale = max_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class DecodeMemory:
    """Bounds the memory of full-size decodes running at once, across all threads.

    A decode reserves what its pixels need; one larger than the whole budget runs alone. So
    two threads never hold two 200-megapixel images at once, whatever the files.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._free = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = min(nbytes, self.limit)
        with self._free:
            self._free.wait_for(lambda: self._used + nbytes <= self.limit)
            self._used += nbytes
        try:
            yield
        finally:
            with self._free:
                self._used -= nbytes
                self._free.notify_all()


_DECODE_MEMORY = DecodeMemory(config.DECODE_MEMORY)


def set_decode_memory(limit: int) -> None:
    """This process's budget (a scan's worker processes share ``config.DECODE_MEMORY``)."""
    _DECODE_MEMORY.limit = limit


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow stores per pixel in ``mode`` (RGB and LA take 4 bytes, like RGBA)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


# The transposes that make an EXIF-oriented image upright (what ImageOps.exif_transpose does,
# from the orientation already read, so a reduced copy without EXIF turns the same way).
UPRIGHT_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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


def _read_exif(img: Image.Image) -> Image.Exif:
    try:
        return img.getexif()
    except (ValueError, TypeError, OSError, SyntaxError, KeyError):
        return Image.Exif()  # unreadable EXIF is not a reason to lose the photo


def _exif_fields(exif: Image.Exif) -> tuple[int, str | None]:
    """EXIF orientation (1 if absent or damaged) and DateTimeOriginal as ISO 8601."""
    try:
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


# The first bytes of the formats people keep photos in: a file that starts like one of them
# but cannot be opened is a damaged photo, not a mislabelled file.
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


# Files that often carry a photo's name without being one.
_NOT_IMAGE_SIGNATURES = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an office document)",
    b"<!doctype html": "an HTML page (a failed download?)",
    b"<html": "an HTML page (a failed download?)",
    b"<?xml": "an XML file",
}


def _unidentified_reason(path: Path, data: bytes | None) -> str:
    if path.suffix.lower() in HEIF_SUFFIXES and HEIF_MISSING:
        return HEIF_MISSING
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read(512)
    if not data:
        return "empty file (0 bytes)"
    head = data[:16].lstrip().lower()
    other = next((name for magic, name in _NOT_IMAGE_SIGNATURES.items() if head.startswith(magic.lower())), None)
    if other is None and data[:512].isascii() and not any(byte in data[:512] for byte in bytes(range(9))):
        other = "a text file"
    if other:
        return f"{other}, not an image: wrong extension"
    if path.suffix.lower() in RAW_SUFFIXES:
        return f"not a RAW file LibRaw {raw.LIBRAW_VERSION} can read (damaged, or from a camera newer than it)"
    kind = next((name for magic, name in _SIGNATURES.items() if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
    if kind:
        return f"damaged {kind} file: its header cannot be read (truncated or corrupt)"
    return "not an image Pillow can read (wrong extension or damaged file)"


def _decode_reason(exc: BaseException, said: list[str]) -> str:
    """The decoder's error, plus the first thing it warned about, when that adds something."""
    reason = f"cannot decode image ({first_line(exc)})"
    extra = next((line for line in said if line not in reason), None)
    return f"{reason}; the decoder warned: {first_line(extra)}" if extra else reason


def first_line(exc: BaseException | str) -> str:
    """The first line of an error (or a message), for a one-line reason."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
