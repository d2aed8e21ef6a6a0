"""People end to end on fivecelebs through the real CLI: cluster, name, edit, re-cluster, find."""

import collections
import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks.clustering import scores
from photoface.catalog import Catalog
from photoface.cli import EXIT_ERROR, app

runner = CliRunner()


def _run(db, *args):
    result = runner.invoke(app, ["--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result


def _json(db, *args):
    return json.loads(_run(db, *args, "--json").stdout)


def _folder(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def _majority_folders(db) -> dict[int, str]:
    """Each person's most common folder (the true identity of its faces)."""
    result = {}
    for person in _json(db, "people"):
        folders = collections.Counter(_folder(f["photo"]) for f in _json(db, "faces", "--person", str(person["id"])))
        result[person["id"]] = folders.most_common(1)[0][0]
    return result


@pytest.fixture(scope="module")
def library(fivecelebs, tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    shutil.copytree(fivecelebs / "train", root / "library" / "train")
    return root


def test_fivecelebs_end_to_end(library, fivecelebs):
    db = library / "c.db"
    _run(db, "scan", str(library / "library"))
    report = _json(db, "cluster")
    assert report["people"] >= 5

    # Name each person after its folder, as a user would after 'photoface show': a second
    # cluster of someone already named is merged into them (--yes answers the merge question).
    for person, folder in _majority_folders(db).items():
        _run(db, "name", str(person), folder, "--yes")
    names = sorted(p["name"] for p in _json(db, "people"))
    assert names == ["Ben Affleck", "Elton John", "Jerry Seinfeld", "Madonna", "Mindy Kaling"]
    faces_before = {f["id"]: (f["person"], f["name"]) for f in _json(db, "faces") if f["name"]}
    # Decisions to keep: a face moved to a new person, who is then ignored as a stranger.
    moved = next(iter(faces_before))
    ignored = new_person = int(_run(db, "move", str(moved), "new").stdout.split()[-1])
    _run(db, "ignore", str(ignored))
    frozen = {f["id"]: f["person"] for f in _json(db, "faces") if f["person"] in (ignored, new_person)}

    _json(db, "cluster")  # after edits, left-over faces may join the named people
    for _ in range(3):
        assert _json(db, "cluster")["changed"] == 0  # clustering again changes nothing
    shutil.copytree(fivecelebs / "val", library / "library" / "val")
    _run(db, "scan", str(library / "library"))
    _json(db, "cluster")

    after = {f["id"]: (f["person"], f["name"]) for f in _json(db, "faces")}
    for face, who in faces_before.items():
        if face != moved:
            assert after[face] == who, f"face {face} lost its name"
    assert {face: after[face][0] for face in frozen} == frozen
    assert after[moved][0] == new_person

    # find: the photos of a named person, as exact as the clustering allows (>= 95% both ways).
    for name in ("Elton John", "Madonna"):
        found = {p for p in _run(db, "find", name).stdout.splitlines()}
        truth = {str(p) for p in (library / "library").glob(f"*/{name}/*.jpg")}
        assert len(found & truth) >= 0.95 * len(truth) and len(found & truth) >= 0.95 * len(found), name


def test_bcubed_on_the_largest_face_of_each_photo(fivecelebs, tmp_path):
    db = tmp_path / "c.db"
    _run(db, "scan", str(fivecelebs))
    _run(db, "cluster")
    with Catalog.open(db) as catalog:
        faces = catalog.faces()
    largest = {}
    for face in faces:
        if face["photo"] not in largest or face["size"] > largest[face["photo"]]["size"]:
            largest[face["photo"]] = face
    predicted = np.array([f["person"] if f["person"] is not None else -1 for f in largest.values()])
    truth = np.array([_folder(f["photo"]) for f in largest.values()])
    result = scores(predicted, truth)
    assert len(truth) == 118
    assert result["bcubed_f"] >= 0.97, result


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["name", "999", "Zed"], "no person 999"),
        (["find", "Nobody At All"], "no person named 'Nobody At All'"),
        (["move", "999999", "new"], "no face 999999"),
        (["merge", "1"], "Missing argument"),
        (["name", "1", "   "], "a name cannot be empty"),
        (["show", "Nobody"], "no person named 'Nobody'"),
    ],
)
def test_bad_references_are_one_line_errors(library, args, message):
    db = library / "errors.db"
    _run(db, "scan", str(library / "library" / "train" / "Madonna"))
    result = runner.invoke(app, ["--db", str(db), *args])
    assert result.exit_code in (EXIT_ERROR, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_identify_and_find_like_on_photos_outside_the_library(fivecelebs, tmp_path):
    library = tmp_path / "library"
    for name in ("Elton John", "Madonna"):
        shutil.copytree(fivecelebs / "train" / name, library / name)
    db = tmp_path / "c.db"
    _run(db, "scan", str(library))
    _run(db, "cluster")
    for person, folder in _majority_folders(db).items():
        _run(db, "name", str(person), folder, "--yes")

    elton = fivecelebs / "val" / "Elton John" / "1.jpg"  # not in the library
    annotated = tmp_path / "named.jpg"
    (face,) = json.loads(_run(db, "identify", str(elton), "-o", str(annotated), "--json").stdout)
    assert face["name"] == "Elton John" and face["distance"] < 0.9
    assert annotated.exists()
    stranger = fivecelebs / "val" / "Jerry Seinfeld" / "1.jpg"
    assert [f["name"] for f in json.loads(_run(db, "identify", str(stranger), "--json").stdout)] == [None]

    like = _run(db, "find", "--like", str(fivecelebs / "val" / "Madonna" / "1.jpg")).stdout.splitlines()
    assert like == _run(db, "find", "Madonna").stdout.splitlines()
    assert len(like) >= 15 and {os.path.basename(os.path.dirname(p)) for p in like} == {"Madonna"}
