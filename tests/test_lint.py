"""ruff is part of the test suite, so CI fails on lint errors too."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install '.[test]')")
    completed = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout
