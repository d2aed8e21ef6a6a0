"""The real CLI: exit codes, one-line errors, JSON for scripts."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photoface import __version__
from photoface.cli import EXIT_ERROR, EXIT_PARTIAL, app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_detect_json_lists_faces_per_photo(groups):
    result = runner.invoke(app, ["detect", "--json", str(groups / "2008_001322.jpg")])
    assert result.exit_code == 0, result.output
    (photo,) = json.loads(result.stdout)
    assert photo["photo"] == str((groups / "2008_001322.jpg").resolve())
    assert len(photo["faces"]) == 3
    for face in photo["faces"]:
        _x, _y, w, h = face["box"]
        assert w > 20 and h > 20 and face["score"] > 0.9 and len(face["landmarks"]) == 5


def test_bad_file_is_skipped_with_one_line_and_partial_exit(groups, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not a photo")
    result = runner.invoke(app, ["detect", str(junk), str(groups / "2008_001322.jpg")])
    assert result.exit_code == EXIT_PARTIAL
    assert f"{junk}: a text file, not an image: wrong extension" in result.stderr
    assert "Traceback" not in result.output


def test_only_bad_files_is_an_error(tmp_path):
    result = runner.invoke(app, ["detect", str(tmp_path / "missing.jpg")])
    assert result.exit_code == EXIT_ERROR
    assert "missing.jpg: file not found" in result.stderr


def test_unavailable_cuda_is_one_line_without_traceback(groups, monkeypatch):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    result = runner.invoke(app, ["detect", "--device", "cuda", str(groups / "2008_001322.jpg")])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.count("\n") == 1 and "use --device cpu" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_profile_is_one_line_naming_the_choices(tmp_path):
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", "--profile", "quick", str(tmp_path)])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.strip() == "error: unknown profile 'quick': use one of fast, balanced, best"


def test_scan_json_names_profile_and_model(groups, tmp_path):
    photo = tmp_path / "one.jpg"
    photo.write_bytes((groups / "2008_001322.jpg").read_bytes())
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "scan", "--json", "--profile", "fast", str(photo)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["profile"] == "fast" and summary["model"].startswith("facenet-int8-") and summary["faces"] == 3


def test_installed_console_script_runs(groups):
    exe = Path(sysconfig.get_path("scripts")) / "photoface"
    if not exe.exists():
        pytest.skip(f"no console script at {exe}: install the package (pip install .)")
    completed = subprocess.run(
        [exe, "detect", "--json", str(groups / "2008_001322.jpg")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)[0]["faces"]) == 3


def test_module_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "photoface", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0 and __version__ in completed.stdout


def test_status_names_the_models_the_faces_were_made_with(groups, tmp_path):
    db = str(tmp_path / "c.db")
    for profile, photo in (("balanced", "2008_001322.jpg"), ("best", "2008_002079.jpg")):
        (tmp_path / profile).mkdir()
        (tmp_path / profile / photo).write_bytes((groups / photo).read_bytes())
        result = runner.invoke(app, ["--db", db, "scan", "--profile", profile, str(tmp_path / profile)])
        assert result.exit_code == 0, result.output
        if profile == "balanced":  # the default profile's int8 FaceNet, not the fp32 one
            status = json.loads(runner.invoke(app, ["--db", db, "status", "--json"]).stdout)
            assert status["model"].startswith("facenet-int8-") and status["models"] == {status["model"]: 3}
    status = json.loads(runner.invoke(app, ["--db", db, "status", "--json"]).stdout)
    int8, fp32 = sorted(status["models"], key=len, reverse=True)
    assert int8.startswith("facenet-int8-") and fp32.startswith("facenet-") and not fp32.startswith("facenet-int8")
    assert status["models"] == {fp32: 6, int8: 3} and status["model"] == f"{fp32}, {int8}"
    text = runner.invoke(app, ["--db", db, "status"]).stdout
    assert f"{fp32} (6 faces), {int8} (3 faces)" in " ".join(text.split())


def test_a_full_disk_during_any_command_is_one_line(tmp_path, monkeypatch):
    """Any command that writes the catalog turns SQLite's disk-full error into the same one
    line and exit code as a scan (the full-disk scan itself is tested on a real tmpfs)."""
    import sqlite3

    from photoface import people
    from photoface.catalog import Catalog
    from photoface.cli import EXIT_CATALOG_FAULT

    Catalog.open(tmp_path / "c.db").close()

    def full(*_args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(people, "rename", full)
    result = runner.invoke(app, ["--db", str(tmp_path / "c.db"), "rename", "1", "Alice"])
    assert result.exit_code == EXIT_CATALOG_FAULT
    assert result.stderr.strip() == (
        f"error: cannot write the catalog {tmp_path / 'c.db'} (database or disk is full): "
        "the disk is full: free some space, then run the same command again"
    )
