"""``photoface demo``: the bundled sample, scanned and clustered into a catalog of its own.

The real CLI in its own process, with HOME, XDG_DATA_HOME and PHOTOFACE_DB pointed into a
temp folder, so "the user's catalog is never touched" is checked on real paths.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PEOPLE = {"Ben Affleck", "Elton John", "Jerry Seinfeld", "Madonna", "Mindy Kaling"}


def photoface(home: Path, *args: str | Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        # The user's own catalog, set the way users set it: the demo must leave it alone.
        "PHOTOFACE_DB": str(home / "mine" / "catalog.db"),
    }
    return subprocess.run(
        [sys.executable, "-m", "photoface", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )


def user_catalogs(home: Path) -> list[Path]:
    """Every catalog.db a demo could have wrongly written: $PHOTOFACE_DB's and the default one."""
    return [p for p in (home / "mine" / "catalog.db", home / "data" / "photoface" / "catalog.db") if p.exists()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("home")
    return home, photoface(home, "demo")


def test_demo_goes_to_its_own_catalog(first_run):
    home, run = first_run
    assert run.returncode == 0, run.stderr
    demo_db = home / "data" / "photoface" / "demo.db"
    assert demo_db.is_file()
    assert str(demo_db) in run.stdout  # it says which catalog it wrote
    assert user_catalogs(home) == []
    assert f"photoface --db {demo_db} serve --open" in run.stdout


def test_demo_finds_the_five_people(first_run):
    home, run = first_run
    demo_db = home / "data" / "photoface" / "demo.db"
    people = json.loads(photoface(home, "--db", demo_db, "people", "--json").stdout)
    faces = json.loads(photoface(home, "--db", demo_db, "faces", "--json").stdout)
    sizable = [p["id"] for p in people if p["faces"] >= 3]
    assert len(sizable) >= 5
    # Each person is mostly one folder (who the photos show), and the five are five folders.
    majority = {}
    for person in sizable:
        folders = Counter(Path(f["photo"]).parent.name for f in faces if f["person"] == person)
        folder, count = folders.most_common(1)[0]
        assert count > sum(folders.values()) / 2, folders
        majority[person] = folder
    assert set(majority.values()) == PEOPLE
    assert f"found {len(people)} people" in run.stdout


def test_demo_again_is_incremental_and_keeps_names(first_run):
    home, _run = first_run
    demo_db = home / "data" / "photoface" / "demo.db"
    before = json.loads(photoface(home, "--db", demo_db, "people", "--json").stdout)
    named = photoface(home, "--db", demo_db, "name", str(before[0]["id"]), "Someone")
    assert named.returncode == 0, named.stderr
    again = photoface(home, "demo")
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 changed, 37 unchanged, 0 failed" in again.stdout
    after = json.loads(photoface(home, "--db", demo_db, "people", "--json").stdout)
    assert [(p["id"], p["faces"]) for p in after] == [(p["id"], p["faces"]) for p in before]
    assert after[0]["name"] == "Someone"
    assert user_catalogs(home) == []


def test_demo_db_option(tmp_path):
    run = photoface(tmp_path, "demo", "--db", tmp_path / "elsewhere.db")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "data" / "photoface" / "demo.db").exists()
    assert user_catalogs(tmp_path) == []


def test_sample_ships_with_the_package():
    sample = resources.files("photoface") / "sample"
    assert (sample / "LICENSE.md").is_file()
    assert "MIT License" in (sample / "LICENSE.md").read_text()
    for person in PEOPLE:
        assert len([p for p in (sample / person).iterdir() if p.name.endswith(".jpg")]) >= 5, person
    for group in ("group1.jpg", "group2.jpg"):
        assert (sample / group).is_file()


def test_package_data_covers_every_sample_file():
    """What importlib.resources finds in a checkout is what an install gets: pyproject's
    package-data globs name every file of photoface/sample/."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["photoface"]
    root = REPO / "photoface"
    files = [p.relative_to(root).as_posix() for p in (root / "sample").rglob("*") if p.is_file()]
    assert files
    # fnmatch's * also crosses "/", so match each glob segment by segment, as setuptools does.
    missed = [
        f
        for f in files
        if not any(
            len(g.split("/")) == len(f.split("/")) and all(map(fnmatch.fnmatch, f.split("/"), g.split("/")))
            for g in globs
        )
    ]
    assert missed == []
    total = sum((root / f).stat().st_size for f in files)
    assert total < 2_000_000  # a sample, not a data set


def test_quick_start_is_the_demo_and_ci_runs_its_test_command():
    """The README's two Quick start commands: a venv (Debian's Python refuses pip outside one)
    and the demo, then the tests; .ci/run ends with exactly the second."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    first, second = block.strip().splitlines()
    assert first.startswith("python3 -m venv .venv && ") and first.endswith("photoface demo")
    assert second.startswith("python3 -m venv .venv && ")
    lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert lines[-1] == second
