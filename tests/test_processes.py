"""The scan's worker processes: the same faces as the engine in this process, and a worker that
dies takes nothing with it but the photo that killed it."""

import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from photoface.catalog import Catalog
from photoface.cli import app
from photoface.crawler import walk
from photoface.engine import FaceEngine
from photoface.processes import ProcessAnalysis, WorkerSettings
from photoface.scan import EngineSettings

runner = CliRunner()


def test_worker_processes_find_the_boxes_of_the_engine_here(groups, tmp_path):
    """The CLI's scan (worker processes) against FaceEngine in this process (its threads), on
    the shared group photos: the same faces, boxes within 1 px."""
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", str(groups)])
    assert result.exit_code == 0, result.output
    engine = FaceEngine.from_profile("balanced", "cpu")
    with Catalog.open(tmp_path / "c.db") as catalog:
        faces = catalog.faces()
    photos = sorted(groups.glob("*.jpg"))
    assert {f["photo"] for f in faces} <= {str(p) for p in photos}
    total = 0
    for photo in photos:
        stored = np.array(sorted(f["box"] for f in faces if f["photo"] == str(photo))).reshape(-1, 4)
        here = np.array(sorted([round(v, 1) for v in face.box] for face in engine.analyze(photo))).reshape(-1, 4)
        assert stored.shape == here.shape, photo.name
        assert np.abs(stored - here).max(initial=0) <= 1.0, photo.name
        total += len(here)
    assert total >= 40


def test_a_worker_that_dies_loses_only_the_photo_that_killed_it(fivecelebs, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    photos = sorted(fivecelebs.glob("*/*/*.jpg"))[:20]
    for number, photo in enumerate(photos):
        shutil.copy(photo, library / f"{number:02d}.jpg")
    shutil.copy(photos[0], library / "crash.jpg")
    todo = [(entry, None) for entry in walk([library])]
    from tests.crashing_worker import analyse_or_die

    executor = ProcessAnalysis(WorkerSettings(EngineSettings("balanced", "cpu")), workers=2, task=analyse_or_die)
    try:
        results = {Path(p.entry.path).name: p for p in executor.prepared(todo, rescan=False)}
    finally:
        executor.close()
    assert sorted(results) == sorted(Path(entry.path).name for entry, _ in todo)
    assert "crashed the worker" in results["crash.jpg"].error
    good = [p for name, p in results.items() if name != "crash.jpg"]
    assert all(p.error is None and p.analysed is not None for p in good)
    assert sum(len(p.analysed.faces) for p in good) >= len(good)


def test_no_work_starts_no_process():
    executor = ProcessAnalysis(WorkerSettings(EngineSettings("balanced", "cpu")))
    assert list(executor.prepared([], rescan=False)) == [] and executor.worker_pids() == []
    executor.close()
