"""Every error photoface raises on purpose; callers catch ``PhotofaceError``."""

from __future__ import annotations

from pathlib import Path


class PhotofaceError(Exception):
    """Base class: the message is one line that says what is wrong and what to do."""


class ImageLoadError(PhotofaceError):
    """A file could not be read as a photo; ``path`` and ``reason`` are kept for the catalog."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(PhotofaceError):
    """A model file is missing, damaged or does not match the manifest."""


class DeviceError(PhotofaceError):
    """The requested execution device is not available."""


class CatalogError(PhotofaceError):
    """The catalog file cannot be opened, is from a newer version, or is busy."""
