"""RAW camera files (dng, cr2, cr3, nef, arw, orf, rw2, raf) as pictures Pillow can finish.

A RAW file is read through the preview JPEG its camera embedded when that preview is big
enough to find faces in (``PREVIEW_MIN_SIDE``), and decoded by LibRaw at half size only when
it is not: the preview costs a JPEG decode, the full decode demosaics the whole sensor
(docs/how-it-works.md, "HEIC and RAW", has the numbers). Either way the picture comes back
in the sensor's orientation with the RAW's own orientation beside it, for
``photoface.imageio`` to apply once, as it does a JPEG's EXIF orientation.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image

from photoface import config
from photoface.errors import ImageLoadError

# A preview at least as big as the largest detection image (the ``best`` profile's) gives the
# detector what a full decode would. Smaller ones lose faces: of the faces found in the shared
# group photos at their own size, a 1024-pixel copy keeps 91%, a 480-pixel one 78%, a 160-pixel
# thumbnail 32% (python -m benchmarks.photo_formats --preview-sides; docs/how-it-works.md).
PREVIEW_MIN_SIDE = config.MAX_DETECTION_SIDE

# dcraw's flip codes back to the EXIF orientations they were read from ("50132467" in dcraw).
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

# What a half-size decode holds at its peak, per sensor pixel: the raw values (2 bytes), LibRaw's
# working image (four 16-bit channels at a quarter of the pixels: 2), its 8-bit output and our
# copy of it. Measured: a 24-megapixel DNG's decode grew the peak RSS by 138 MB, 5.75 bytes a pixel
# (python -m benchmarks.photo_formats --peak-memory).
_DECODE_BYTES_PER_SENSOR_PIXEL = 6


class NotRawError(Exception):
    """LibRaw does not recognise the file: it is something else named like a RAW, or a camera too new."""


class DamagedRawError(Exception):
    """LibRaw opened the file but failed inside it; the message is LibRaw's own words."""

    def __init__(self, error: rawpy.LibRawError) -> None:
        said = error.args[0] if error.args else type(error).__name__
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)  # rawpy passes bytes
        super().__init__(f"damaged RAW file, LibRaw says: {text.strip() or type(error).__name__}")


LIBRAW_VERSION = ".".join(map(str, rawpy.libraw_version))


@dataclass(frozen=True)
class RawPicture:
    """What a RAW file shows, before orientation: the preview (not yet decoded) or a half-size decode."""

    image: Image.Image
    orientation: int  # EXIF orientation of the RAW (LibRaw's flip), not yet applied
    exif: Image.Exif | None  # what the RAW says of its date; None: the image's own EXIF (a JPEG preview)


class RawFile:
    """An opened RAW file: LibRaw has read its header, nothing is decoded yet."""

    def __init__(self, raw: rawpy.RawPy, name: str) -> None:
        self._raw = raw
        sizes = raw.sizes
        self.sensor_size = (sizes.raw_width, sizes.raw_height)
        self.orientation = _FLIP_TO_ORIENTATION.get(sizes.flip, 1)
        if sizes.raw_width * sizes.raw_height > config.MAX_IMAGE_PIXELS:
            limit = f"{config.MAX_IMAGE_PIXELS:,}-pixel limit"
            raise ImageLoadError(name, f"{sizes.raw_width}x{sizes.raw_height} sensor is over the {limit}")

    @property
    def decode_bytes(self) -> int:
        """Memory a half-size decode holds at its peak."""
        return self.sensor_size[0] * self.sensor_size[1] * _DECODE_BYTES_PER_SENSOR_PIXEL

    def preview(self, min_side: int = PREVIEW_MIN_SIDE) -> RawPicture | None:
        """The embedded preview, when there is one whose longer side is at least ``min_side``
        (or at least what a half-size decode would give); None otherwise."""
        try:
            thumb = self._raw.extract_thumb()
        except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
            return None
        if thumb.format == rawpy.ThumbFormat.JPEG:
            # LibRaw writes an EXIF block into the JPEG it hands over (its date and orientation).
            image, exif = Image.open(io.BytesIO(thumb.data)), None
        else:
            image, exif = _bitmap(thumb.data), self._dated_exif()
        if max(image.size) < min(min_side, max(self.sensor_size) // 2):
            return None
        # The RAW's orientation, not the preview's EXIF tag (where LibRaw adds its EXIF block, the same
        # value): one source only, so it is applied once.
        return RawPicture(image, self.orientation, exif)

    def decode(self) -> RawPicture:
        """Demosaic the sensor at half size (2x2 blocks to one pixel: plenty for detection), 8-bit sRGB."""
        pixels = self._raw.postprocess(half_size=True, user_flip=0, output_bps=8, use_camera_wb=True)
        return RawPicture(Image.fromarray(pixels, "RGB"), self.orientation, self._dated_exif())

    def _dated_exif(self) -> Image.Exif:
        """An EXIF block with the date LibRaw read from the RAW (reading it unpacks the sensor:
        free after a decode, the cost of one for a bitmap preview)."""
        exif = Image.Exif()
        taken = self._raw.other.timestamp
        if taken.timestamp() > 0:  # 0: the RAW has no date
            exif[0x0132] = taken.strftime("%Y:%m:%d %H:%M:%S")
        return exif


@contextmanager
def opened(path: Path, data: bytes | None = None) -> Iterator[RawFile]:
    """Open ``path`` (or ``data``, its bytes already read) with LibRaw.

    Raises ``NotRawError`` for a file LibRaw does not recognise (or cannot even read the header
    of: an empty file), ``DamagedRawError`` for one that is damaged past its header.
    """
    if data is None:
        with open(path, "rb"):  # a missing or unreadable file fails as a JPEG's does, not as a LibRaw error
            pass
    try:
        raw = rawpy.imread(_Bytes(data)) if data is not None else rawpy.imread(str(path))
    except (rawpy.LibRawFileUnsupportedError, rawpy.LibRawIOError):
        raise NotRawError(path) from None
    except rawpy.LibRawError as exc:
        raise DamagedRawError(exc) from None
    try:
        with raw:
            yield RawFile(raw, str(path))
    except rawpy.LibRawError as exc:  # raised while reading the preview or decoding
        raise DamagedRawError(exc) from None


class _Bytes:
    """``data`` as the file object rawpy reads once; a BytesIO's read() would copy the whole file."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


def _bitmap(pixels: np.ndarray) -> Image.Image:
    """A LibRaw bitmap preview (height x width x 1 or 3, 8 or 16 bits) as a Pillow image."""
    if pixels.dtype != np.uint8:
        pixels = (pixels >> 8).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
