"""Faults of the machine, not the photo: signals, a full or read-only disk, a vanished catalog,
a process gone. Each ends with one line saying what happened and what to do, a documented exit
code, the scan row marked interrupted, every committed photo kept, and a next scan that
completes the work."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common import descendants
from photoface.catalog import PROCESS_GONE
from photoface.cli import EXIT_CATALOG_FAULT, EXIT_ERROR
from tests.conftest import Run, finish, run_photoface, start_photoface
from tests.test_scan import _linked_library, _wait_for_photos

PHOTOS = 300


def _committed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT count(*) FROM photos").fetchone()[0]


def _last_scan(db: Path) -> dict:
    status = run_photoface("--db", db, "status", "--json")
    assert status.returncode == 0, status.stderr
    return status.json()["last_scan"]


def _rescan_completes(db: Path, library: Path, committed: int) -> None:
    again = run_photoface("--db", db, "scan", "--json", library)
    assert again.returncode == 0, again.stderr
    report = again.json()
    assert report["unchanged"] >= committed and report["new"] + report["unchanged"] == PHOTOS
    assert _committed(db) == PHOTOS
    assert _last_scan(db)["status"] == "finished"


def _one_error_line(run: Run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in run.stdout
    return lines[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_signal_is_a_clean_stop(tmp_path, sig):
    library = _linked_library(tmp_path, PHOTOS)
    db = tmp_path / "c.db"
    process = start_photoface("--db", db, "scan", library)
    stored = _wait_for_photos(db, 64, process)
    process.send_signal(sig)
    run = finish(process)
    assert run.returncode == 128 + sig, run.stderr
    assert run.stderr.strip() == ""
    assert run.stdout.startswith(f"stopped by {sig.name} in ")
    assert "run the same scan again to continue" in run.stdout
    committed = _committed(db)
    assert committed >= stored
    last = _last_scan(db)
    assert (last["status"], last["stop_reason"]) == ("interrupted", f"stopped by {sig.name}")
    assert last["new"] == committed  # the counts are what was committed, not what was in flight
    _rescan_completes(db, library, committed)


def test_status_tells_a_running_scan_from_a_dead_one(tmp_path):
    library = _linked_library(tmp_path, PHOTOS)
    db = tmp_path / "c.db"
    process = start_photoface("--db", db, "scan", library)
    try:
        _wait_for_photos(db, 32, process)
        running = _last_scan(db)
        assert (running["status"], running["pid"]) == ("running", process.pid)
        workers = descendants(process.pid)
        assert workers, "the scan runs no worker processes"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10  # the workers notice their scan is gone and end too
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    dead = _last_scan(db)
    assert (dead["status"], dead["stop_reason"]) == ("interrupted", PROCESS_GONE)
    _rescan_completes(db, library, _committed(db))
    with sqlite3.connect(db) as conn:  # the next scan closed the dead one's row for good
        assert conn.execute("SELECT status, stop_reason FROM scans WHERE id = 1").fetchone() == (
            "interrupted",
            PROCESS_GONE,
        )


@contextlib.contextmanager
def _small_filesystem(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only; skips elsewhere, fails in CI)."""
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a small filesystem needs root"
    else:
        where.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode != 0:
            reason = f"cannot mount a tmpfs here ({mounted.stderr.strip()})"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _remount(where: Path, options: str) -> None:
    gc.collect()  # a test's sqlite3 connection left in a reference cycle would keep the mount busy
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def test_full_disk_stops_the_scan_cleanly(tmp_path):
    library = _linked_library(tmp_path, PHOTOS)
    with _small_filesystem(tmp_path / "small", "600k") as small:
        db = small / "c.db"
        run = run_photoface("--db", db, "scan", library)
        assert run.returncode == EXIT_CATALOG_FAULT
        line = _one_error_line(run)
        assert line.startswith(f"error: cannot write the catalog {db} (database or disk is full)")
        assert line.endswith("the disk is full: free some space, then run the same command again")
        _remount(small, "size=64m")  # the user frees space
        committed = _committed(db)
        assert 0 < committed < PHOTOS
        assert _last_scan(db)["status"] == "interrupted"
        _rescan_completes(db, library, committed)


def test_catalog_on_a_read_only_drive(tmp_path):
    """A drive remounted read-only (as Linux does on disk errors): a clear refusal, nothing lost,
    and the scan carries on once the drive is writable again. (A drive cannot be remounted
    read-only while the scan holds the catalog open for writing, so this is between scans.)"""
    library = _linked_library(tmp_path, PHOTOS)
    with _small_filesystem(tmp_path / "drive", "64m") as drive:
        db = drive / "c.db"
        process = start_photoface("--db", db, "scan", library)
        _wait_for_photos(db, 64, process)
        process.send_signal(signal.SIGTERM)
        assert finish(process).returncode == 128 + signal.SIGTERM
        committed = _committed(db)
        _remount(drive, "ro")
        run = run_photoface("--db", db, "scan", library)
        assert run.returncode == EXIT_ERROR
        line = _one_error_line(run)
        assert line.startswith(f"error: cannot open the catalog {db}") and "read-only" in line
        _remount(drive, "rw")
        assert _committed(db) == committed
        _rescan_completes(db, library, committed)


def test_catalog_deleted_mid_scan(tmp_path):
    library = _linked_library(tmp_path, PHOTOS)
    db = tmp_path / "c.db"
    process = start_photoface("--db", db, "scan", library)
    _wait_for_photos(db, 64, process)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run = finish(process)
    assert run.returncode == EXIT_CATALOG_FAULT
    assert f"the catalog {db} was deleted or replaced while photoface used it" in _one_error_line(run)
