"""photoface: find every face in a photo library, group them into people, name and search them."""

from importlib.metadata import PackageNotFoundError, version

# First, before anything could load onnxruntime or Ray: their reporting is switched off.
from photoface import offline  # noqa: F401  (imported for its effect)
from photoface.errors import DeviceError, ImageLoadError, ModelError, PhotofaceError

try:
    __version__ = version("photoface")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# The engine loads onnxruntime (0.4 s, native threads): only code that runs a model imports it.
_LAZY = {"Face": "photoface.engine", "FaceEngine": "photoface.engine", "load_image": "photoface.imageio"}


def __getattr__(name: str) -> object:
    """``from photoface import FaceEngine`` still works; the module loads on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'photoface' has no attribute {name!r}")


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
