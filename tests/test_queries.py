"""status and faces on a real scanned catalog: the JSON fields scripts rely on."""

import json

import pytest
from typer.testing import CliRunner

from photoface.cli import EXIT_ERROR, app

runner = CliRunner()


@pytest.fixture(scope="module")
def scanned(groups, tmp_path_factory):
    db = tmp_path_factory.mktemp("queries") / "c.db"
    result = runner.invoke(app, ["--db", str(db), "scan", str(groups)])
    assert result.exit_code == 0, result.output
    return db


def _json(db, *args):
    result = runner.invoke(app, ["--db", str(db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_json(scanned):
    status = _json(scanned, "status")
    assert status["photos"] == 11 and status["failed"] == 0
    assert status["faces"] >= 43 + 25  # 43 boxed faces, 20+ and 5 in the two unboxed photos
    assert status["unassigned_faces"] == status["faces"]
    assert status["last_scan"]["status"] == "finished"
    assert status["db"] == str(scanned) and status["provider"] == "cpu"
    assert status["model"].startswith("facenet-")


def test_faces_json_fields_and_photo_filter(scanned, groups):
    photo = groups / "2008_001322.jpg"
    faces = _json(scanned, "faces", "--photo", str(photo))
    assert len(faces) == 3
    for face in faces:
        assert {"id", "photo", "box", "score", "person", "name"} <= face.keys()
        assert face["photo"] == str(photo.absolute()) and face["person"] is None and face["name"] is None
        x, y, w, h = face["box"]
        assert x >= 0 and x + w <= 500 and y >= 0 and y + h <= 375 and w > 40
    assert "embedding" not in faces[0]
    with_vectors = _json(scanned, "faces", "--photo", str(photo), "--embeddings")
    assert len(with_vectors[0]["embedding"]) == 128


def test_faces_table_and_all(scanned):
    every = _json(scanned, "faces")
    assert len(every) == _json(scanned, "status")["faces"]
    table = runner.invoke(app, ["--db", str(scanned), "faces"])
    assert table.exit_code == 0 and f"{len(every)} faces" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["faces", "--person", "999"], "no person 999"),
        (["faces", "--photo", "/nowhere/x.jpg"], "/nowhere/x.jpg is not in the catalog"),
    ],
)
def test_bad_values_are_one_line_errors(scanned, args, message):
    result = runner.invoke(app, ["--db", str(scanned), *args])
    assert result.exit_code == EXIT_ERROR
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_query_without_catalog(tmp_path):
    result = runner.invoke(app, ["--db", str(tmp_path / "none.db"), "status"])
    assert result.exit_code == EXIT_ERROR
    assert "no catalog at" in result.stderr and "photoface scan" in result.stderr
