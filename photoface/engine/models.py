"""Where the shipped ONNX models are, and what the manifest says about them."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from photoface import config
from photoface.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# An installed wheel carries the models inside the package; a source checkout has them
# beside it. PHOTOFACE_MODELS overrides both.
_CANDIDATES = (PACKAGE_DIR / "models", PACKAGE_DIR.parent / "models")
MANIFEST = "manifest.json"
# FaceNet's manifest entry for each precision.
FACENET_FILES = {"fp32": "facenet", "int8": "facenet-int8"}


def models_dir() -> Path:
    override = config.models_dir_override()
    if override is not None:
        if not (override / MANIFEST).is_file():
            raise ModelError(f"{config.MODELS_ENV}={override} holds no {MANIFEST}: point it at a models folder")
        return override
    for candidate in _CANDIDATES:
        if (candidate / MANIFEST).is_file():
            return candidate
    raise ModelError(
        f"no models folder found (looked in {', '.join(map(str, _CANDIDATES))}): "
        f"reinstall photoface or set {config.MODELS_ENV}"
    )


@cache
def manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory / MANIFEST} is unreadable ({exc}): reinstall photoface") from exc


def model_path(name: str, directory: Path | None = None) -> Path:
    directory = directory or models_dir()
    entry = manifest(directory)["models"].get(name)
    if entry is None:
        raise ModelError(f"{directory / MANIFEST} lists no model {name!r}: reinstall photoface")
    return directory / entry["file"]


def model_id(name: str, directory: Path | None = None) -> str:
    """A short, stable id of the exact weights (stored with each embedding)."""
    directory = directory or models_dir()
    return f"{name}-{manifest(directory)['models'][name]['sha256'][:12]}"


def verify(directory: Path | None = None) -> dict[str, bool]:
    """sha256 of each model file against the manifest: name -> matches."""
    directory = directory or models_dir()
    result = {}
    for name, entry in manifest(directory)["models"].items():
        path = directory / entry["file"]
        result[name] = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    return result
