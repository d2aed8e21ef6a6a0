"""Shared fixtures. Tests marked ``data`` need the real photos in ../shared/data.

Elsewhere they skip with the reason; in CI (``CI`` set) a missing data folder is a failure,
so a green CI always means the real-photo tests ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PHOTOFACE_DATA", REPO.parent / "shared" / "data"))


def data_path(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        reason = f"real test photos not found at {path} (set PHOTOFACE_DATA to the shared data folder)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def engine():
    from photoface import FaceEngine

    return FaceEngine(device="cpu")


@pytest.fixture(scope="session")
def fivecelebs() -> Path:
    return data_path("fivecelebs")


@pytest.fixture(scope="session")
def groups() -> Path:
    return data_path("groups")


@pytest.fixture(scope="session")
def lfw_images() -> Path:
    return data_path("lfw", "images")
