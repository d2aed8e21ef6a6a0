"""`photoface scan --ray` on a real local Ray cluster (`ray start --head` on 127.0.0.1, 2 CPUs):
the same catalog as a plain scan, every photo exactly once when a worker is killed, a clear
line for a wrong address or a missing Ray."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photoface.cli import EXIT_ERROR, app
from tests.conftest import finish, run_photoface, start_photoface
from tests.test_scan import _linked_library, _wait_for_photos, assert_each_photo_once


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> str:
    """A Ray head on 127.0.0.1 with 2 CPUs for this module; stopped at the end."""
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(ray_cli).exists():
        reason = 'Ray is not installed (pip install "photoface[ray]")'
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = _free_port()
    started = subprocess.run(
        [
            ray_cli,
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, check=False)


def _catalog_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("""SELECT photos.path, photos.hash, photos.width, photos.height,
                                      faces.x, faces.y, faces.w, faces.h, faces.embedding
                               FROM faces JOIN photos ON photos.id = faces.photo_id
                               ORDER BY photos.path, faces.x, faces.y""").fetchall()


def test_ray_scan_gives_the_same_catalog_as_a_plain_scan(cluster, fivecelebs, tmp_path):
    plain = run_photoface("--db", tmp_path / "plain.db", "scan", "--json", fivecelebs)
    assert plain.returncode == 0, plain.stderr
    on_ray = run_photoface("--db", tmp_path / "ray.db", "scan", "--json", "--ray", cluster, fivecelebs)
    assert on_ray.returncode == 0, on_ray.stderr
    assert on_ray.stderr == ""
    assert {k: on_ray.json()[k] for k in ("new", "faces", "failed")} == {
        k: plain.json()[k] for k in ("new", "faces", "failed")
    }
    rows, expected = _catalog_rows(tmp_path / "ray.db"), _catalog_rows(tmp_path / "plain.db")
    assert len(rows) == len(expected) >= 118
    for row, want in zip(rows, expected, strict=True):
        assert row[:4] == want[:4]
        np.testing.assert_allclose(row[4:8], want[4:8], atol=1e-3)
        np.testing.assert_allclose(np.frombuffer(row[8], np.float32), np.frombuffer(want[8], np.float32), atol=1e-5)
    shipped = run_photoface(
        "--db", tmp_path / "shipped.db", "scan", "--json", "--ray", cluster, "--ship-bytes", fivecelebs
    )
    assert shipped.returncode == 0 and _catalog_rows(tmp_path / "shipped.db") == rows


def test_a_killed_worker_still_gives_every_photo_once(cluster, tmp_path):
    library = _linked_library(tmp_path, 600)
    db = tmp_path / "c.db"
    process = start_photoface("--db", db, "scan", "--json", "--ray", cluster, library)
    _wait_for_photos(db, 32, process)
    workers = subprocess.run(["pgrep", "-f", "ray::EngineWorker"], capture_output=True, text=True, check=False)
    pids = [int(pid) for pid in workers.stdout.split()]
    assert pids, "no engine worker process found"
    os.kill(pids[0], signal.SIGKILL)
    run = finish(process)
    assert run.returncode == 0, run.stderr
    assert run.json()["new"] == 600 and run.json()["failed"] == 0
    assert_each_photo_once(db, 600)


def test_a_wrong_address_fails_in_seconds_with_one_line(tmp_path):
    (tmp_path / "photos").mkdir()
    started = time.monotonic()
    run = run_photoface("--db", tmp_path / "c.db", "scan", "--ray", f"127.0.0.1:{_free_port()}", tmp_path / "photos")
    assert time.monotonic() - started < 20
    assert run.returncode == EXIT_ERROR
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: no Ray cluster answers at 127.0.0.1:") and "ray start --head" in line


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    (tmp_path / "photos").mkdir()
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "c.db"), "scan", "--ray", "local", str(tmp_path / "photos")]
    )
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.strip() == 'error: --ray needs Ray: pip install "photoface[ray]"'
