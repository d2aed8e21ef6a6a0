"""photoface: find every face in a photo library, group them into people, name and search them."""

from importlib.metadata import PackageNotFoundError, version

from photoface.engine import Face, FaceEngine
from photoface.errors import DeviceError, ImageLoadError, ModelError, PhotofaceError
from photoface.imageio import load_image

try:
    __version__ = version("photoface")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "DeviceError",
    "Face",
    "FaceEngine",
    "ImageLoadError",
    "ModelError",
    "PhotofaceError",
    "__version__",
    "load_image",
]
