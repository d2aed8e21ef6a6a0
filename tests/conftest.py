"""Shared fixtures. Tests marked ``data`` need the real photos in ../shared/data.

Elsewhere they skip with the reason; in CI (``CI`` set) a missing data folder is a failure,
so a green CI always means the real-photo tests ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Run:
    """A finished ``photoface`` process: exit code, output, and its peak memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float

    def json(self):
        return json.loads(self.stdout)


def start_photoface(*args: str | Path) -> subprocess.Popen:
    """The real CLI in its own process, as a user runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "photoface", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> Run:
    """Wait for ``process``, sampling the peak memory of it and its worker processes until it ends."""
    from benchmarks.common import PeakMemory

    sampler = PeakMemory(process.pid)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    peak = sampler.stop()
    stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return Run(process.returncode, stdout, stderr, peak)


def run_photoface(*args: str | Path, timeout: float = 600) -> Run:
    return finish(start_photoface(*args), timeout)


@pytest.fixture(scope="session")
def exiftool() -> str:
    """Debian's exiftool, the real client other tools' regions are read and written with."""
    path = shutil.which("exiftool")
    if path is None:
        reason = "exiftool not found (apt-get install libimage-exiftool-perl)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@contextlib.contextmanager
def serving(db: Path, *extra: str) -> Iterator[str]:
    """The real ``photoface serve`` in its own process; yields the URL with the token it printed."""
    from benchmarks.common import serving as started

    with started(db, *extra) as (url, process):
        yield url
    assert process.stderr.read() == ""  # nothing but photoface's own lines, and here none


def base_and_token(url: str) -> tuple[str, str]:
    base, _, token = url.partition("/?token=")
    return base, token
