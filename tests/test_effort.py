"""The effort benchmark's simulated user (benchmarks/effort.py) on fivecelebs: it names, answers
the review queue and ends with every person found, on a copy of the catalog."""

from __future__ import annotations

import gc
import hashlib
from pathlib import PurePath

import pytest
from typer.testing import CliRunner

from benchmarks import effort
from photoface.cli import app


def test_identity_comes_from_the_folder():
    assert effort.identity(PurePath("train/Ben Affleck/1.jpg")) == "Ben Affleck"
    assert effort.identity(PurePath("images/George_W_Bush/George_W_Bush_0001.jpg")) == "George_W_Bush"
    assert effort.identity(PurePath("_strangers/stranger_03.jpg")) == "_strangers/stranger_03"
    assert effort.identity(PurePath("_groups/group_01.jpg")) is None
    assert effort.identity(PurePath("loose.jpg")) is None


def test_answers_are_counted_by_the_learned_score_asked_at():
    bands = effort.by_learned([("yes", 0.65), ("no", 0.69), ("other", 1.0), ("yes", 7.0), ("no", 0.7)])
    assert [(band["from"], band["to"]) for band in bands] == [
        (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0), (1.0, 1.2), (1.2, None)
    ]  # fmt: skip
    counts = [(band["yes"], band["other"], band["no"]) for band in bands]
    assert counts == [(1, 0, 1), (0, 0, 1), (0, 0, 0), (0, 0, 0), (0, 1, 0), (1, 0, 0)]


@pytest.mark.data
def test_simulated_user_finishes_fivecelebs(fivecelebs, tmp_path):
    db = tmp_path / "fivecelebs.db"
    scanned = CliRunner().invoke(app, ["--db", str(db), "scan", "--jobs", "1", str(fivecelebs)])
    assert scanned.exit_code == 0, scanned.output
    gc.collect()  # the runner's catalog connection closes: its WAL goes into the file before it is hashed
    assert not db.with_name(db.name + "-wal").exists()
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    result = effort.run(db, fivecelebs, rounds=2)

    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # the user works on a copy
    assert result["people"] == 5 and result["photos"] == 118
    first, named, last = result["rows"][0], result["rows"][1], result["rows"][-1]
    assert first["cumulative"] == 0 and first["mean_find_f"] == 0.0  # clustered, nobody named yet
    assert named["answers"]["name"] == 5 and named["named"] == 5
    assert last["mean_find_f"] >= 0.95 and last["complete"] >= 4
    assert last["cumulative"] == sum(sum(row["answers"].values()) for row in result["rows"])
