"""ruff is part of the test suite, so CI fails on lint errors too."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff not installed (pip install '.[test]')")
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(REPO)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout
