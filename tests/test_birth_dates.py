"""Children grow up: photo dates and birth dates, on small synthetic faces with known answers.

A face is compared first with the person's faces from around the same time, and nobody is
given a face automatically in a photo taken before their birth; ``photoface born`` sets the
date, refusing bad ones with one line and changing nothing."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photoface import people
from photoface.catalog import Catalog
from photoface.cli import EXIT_ERROR, app
from photoface.clustering import (
    NEAR_IN_TIME,
    NO_PERSON,
    ClusterSettings,
    Decisions,
    Faces,
    before_birth,
    exact_neighbours,
    near_in_time,
    plan,
    plan_new,
)
from tests.test_corrections import _json, _run
from tests.test_review_queue import StoredFace

runner = CliRunner()
RNG = np.random.default_rng(11)
YEAR = 365.25
A, B = 1, 2  # the younger child and her look-alike older brother


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _axis(axis: int) -> np.ndarray:
    return np.eye(128, dtype=np.float32)[axis]


def _towards(axis: int, other: int, squared: float) -> np.ndarray:
    """A unit vector ``squared`` (squared distance) from ``axis``, towards ``other``."""
    cos = 1 - squared / 2
    return _unit(cos * _axis(axis) + np.sqrt(1 - cos**2) * _axis(other))


def _around(centre: np.ndarray, count: int) -> np.ndarray:
    """Faces about 0.12 apart (squared): one person's photos, not near-copies of one."""
    return np.stack([_unit(centre + RNG.normal(0, 0.025, 128)) for _ in range(count)])


@pytest.mark.parametrize(
    ("original", "modified", "expected"),
    [
        ("2019:03:02 10:11:12", "2024:01:01 00:00:00", "2019-03-02T10:11:12"),  # when taken, not edited
        (None, "2018:05:06 07:08:09", "2018-05-06T07:08:09"),  # no DateTimeOriginal: DateTime
        ("0000:00:00 00:00:00", None, None),  # a camera's blank date is no date
        (None, None, None),
    ],
)
def test_the_scan_reads_the_date_taken_from_exif(tmp_path, original, modified, expected):
    from PIL import Image

    from photoface.imageio import load_image

    exif = Image.Exif()
    if modified:
        exif[0x0132] = modified
    if original:
        exif.get_ifd(0x8769)[0x9003] = original
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48)).save(path, exif=exif)
    assert load_image(path).taken_at == expected


def test_near_in_time_is_two_years_either_way_and_undated_is_near():
    days = np.array([0.0, NEAR_IN_TIME, NEAR_IN_TIME + 1, -NEAR_IN_TIME - 1, np.nan])
    assert near_in_time(np.zeros(5), days).tolist() == [True, True, False, False, True]
    assert near_in_time(np.full(5, np.nan), days).all()


def test_before_birth_known_answers():
    persons = np.array([A, A, A, B, NO_PERSON, A])
    days = np.array([10.0, 20.0, 30.0, 10.0, 10.0, np.nan])
    assert before_birth(persons, days, {A: 20.0}).tolist() == [True, False, False, False, False, False]
    assert not before_birth(persons, None, {A: 20.0}).any()  # no dates: nothing is before anything
    assert not before_birth(persons, days, {}).any()


def _family() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The faces of a family, their people and photo dates (in days), and the new face's row.

    B at 4-6 (1999-2001) looks like A at 4-5 does, nearer than A's own faces at 4 (2003): a
    face of A at 5 (2004) is nearest B's childhood faces. At 12 (2011) A looks nothing like A
    at 4, and B near A at 12. Everyone is named and every face but the new one confirmed."""
    groups = [
        (_around(_towards(0, 1, 0.12), 6), B, 2000.0),  # B at 4-6
        (_around(_towards(0, 2, 0.45), 6), A, 2003.0),  # A at 4
        (_around(_axis(3), 6), A, 2011.0),  # A at 12
        (_around(_towards(3, 4, 0.3), 6), B, 2011.0),  # B at 16, near A at 12
    ]
    embeddings = np.concatenate([g[0] for g in groups] + [_around(_axis(0), 1)])
    persons = np.concatenate([np.full(len(g[0]), g[1]) for g in groups] + [[NO_PERSON]])
    years = np.concatenate([np.full(len(g[0]), g[2]) for g in groups] + [[2004.0]])
    return embeddings, persons, years * YEAR, len(embeddings) - 1


def _faces(embeddings: np.ndarray, persons: np.ndarray, days: np.ndarray | None) -> Faces:
    n = len(embeddings)
    return Faces(
        ids=np.arange(n),
        photos=np.arange(n),
        embeddings=embeddings,
        sizes=np.full(n, 100.0),
        persons=persons,
        fixed=persons != NO_PERSON,
        days=days,
    )


def test_a_child_is_compared_with_herself_at_the_same_age_first():
    embeddings, persons, days, new = _family()
    squared = ((embeddings[:-1] - embeddings[new]) ** 2).sum(axis=1)
    assert squared[persons[:-1] == B].min() < squared[persons[:-1] == A].min() < 1.0  # the trap is set
    decisions = Decisions(named=frozenset({A, B}))
    graph = exact_neighbours(embeddings)
    is_new = np.arange(len(embeddings)) == new
    undated = plan_new(_faces(embeddings, persons, None), graph, is_new, decisions, ClusterSettings())
    assert undated.persons[new] == B  # by distance alone: her brother
    dated = plan_new(_faces(embeddings, persons, days), graph, is_new, decisions, ClusterSettings())
    assert dated.persons[new] == A
    # A photo without a date is compared with everyone's faces, as before.
    days[new] = np.nan
    assert plan_new(_faces(embeddings, persons, days), graph, is_new, decisions, ClusterSettings()).persons[new] == B


def test_nobody_is_given_a_face_from_before_their_birth():
    embeddings, persons, days, new = _family()
    embeddings[new] = _around(_towards(0, 2, 0.45), 1)[0]  # plainly A at 4, photographed in 2004
    graph, is_new = exact_neighbours(embeddings), np.arange(len(embeddings)) == new
    faces = _faces(embeddings, persons, days)
    for born, whose in ((2003 * YEAR, A), (2004.5 * YEAR, NO_PERSON)):  # born before, then after the photo
        decisions = Decisions(named=frozenset({A, B}), born={A: born})
        assert plan_new(faces, graph, is_new, decisions, ClusterSettings()).persons[new] == whose
        full = plan(faces, graph, decisions, ClusterSettings())
        assert full.persons[new] == whose
        assert (full.persons[:new] == persons[:new]).all()  # confirmed faces stay, whatever the date


# Through the catalog and the CLI.


def _add(catalog: Catalog, embeddings: np.ndarray, taken_at: str | None, person: int | None = None) -> list[int]:
    """One photo per face, taken at ``taken_at``; with ``person``, confirmed as theirs."""
    ids = []
    for embedding in embeddings:
        number = catalog.db.execute("SELECT count(*) FROM photos").fetchone()[0]
        fields = {"status": "ok", "taken_at": taken_at, "width": 400, "height": 300}
        photo = catalog.save_photo(f"/photos/{number}.jpg", size=1, mtime_ns=number, fields=fields)
        ids += catalog.replace_faces(photo, [StoredFace(embedding)], "test")
    if person is not None:
        catalog.assign_faces(ids, person, confirmed=True)
    return ids


@pytest.fixture
def family(tmp_path: Path) -> dict:
    """Alice, confirmed in photos of 2015-2016; a face near hers in 2010 (given to her
    automatically) and in 2017 and undated (nobody's yet)."""
    db = tmp_path / "c.db"
    with Catalog.open(db) as catalog, catalog.transaction():
        alice = catalog.create_person("Alice")
        _add(catalog, _around(_axis(0), 5), "2015-06-01T12:00:00", alice)
        _add(catalog, _around(_axis(0), 5), "2016-06-01T12:00:00", alice)
        catalog.confirm_person(alice)
        (early,) = _add(catalog, _around(_axis(0), 1), "2010-01-01T12:00:00")
        catalog.set_auto_assignments([(early, None, alice)])
        (later,) = _add(catalog, _around(_axis(0), 1), "2017-01-01T12:00:00")
        (undated,) = _add(catalog, _around(_axis(0), 1), None)
    return {"db": db, "alice": alice, "early": early, "later": later, "undated": undated}


def _person(db: Path, name: str) -> dict:
    return next(p for p in _json(db, "people") if p["name"] == name)


def test_born_sets_the_date_and_takes_earlier_automatic_faces(family):
    db = family["db"]
    assert _person(db, "Alice")["born"] is None
    out = _run(db, "born", "Alice", "2014-09-30")
    assert "born 2014-09-30" in out and "1 face" in out
    assert _person(db, "Alice")["born"] == "2014-09-30"
    faces = {f["id"]: f["person"] for f in _json(db, "faces")}
    assert faces[family["early"]] is None
    _json(db, "cluster", "--full")
    faces = {f["id"]: f["person"] for f in _json(db, "faces")}
    assert faces[family["early"]] != family["alice"]  # never hers again while the date stands
    assert faces[family["later"]] == faces[family["undated"]] == family["alice"]  # after, or undated: hers
    _run(db, "born", str(family["alice"]), "--clear")
    assert _person(db, "Alice")["born"] is None


def test_suggest_never_offers_a_face_from_before_the_birth(family):
    db = family["db"]
    with Catalog.open(db) as catalog, catalog.transaction():
        catalog.unassign_faces([family["early"]])
    offered = {s["face"] for s in _json(db, "suggest", "Alice")["faces"]}
    assert {family["early"], family["later"], family["undated"]} <= offered
    _run(db, "born", "Alice", "2014-09-30")
    offered = {s["face"] for s in _json(db, "suggest", "Alice")["faces"]}
    assert family["early"] not in offered and {family["later"], family["undated"]} <= offered


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Alice", "2015-07-01"], "/photos/0.jpg"),  # after a confirmed photo: that photo named
        (["Alice", str(date.today().replace(year=date.today().year + 1))], "in the future"),
        (["Alice", "2015-02-30"], "'2015-02-30' is not a date"),
        (["Alice", "30/09/2014"], "'30/09/2014' is not a date"),
        (["Bob", "2014-09-30"], "no person named 'Bob'"),
        (["99", "2014-09-30"], "no person 99"),
        (["Alice", "2014-09-30", "--clear"], "not both"),
        (["Alice"], "give a birth date"),
    ],
)
def test_bad_birth_dates_are_one_line_and_change_nothing(family, args, message):
    db = family["db"]
    before = _json(db, "faces")
    result = runner.invoke(app, ["--db", str(db), "born", *args])
    assert result.exit_code == EXIT_ERROR and message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert _person(db, "Alice")["born"] is None and _json(db, "faces") == before


def test_suggest_measures_a_face_against_the_faces_of_its_time():
    squared = np.array([[0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.6]])
    theirs = np.array([2000.0, 2000.0, 2010.0, np.nan]) * YEAR
    timely = people._timely(squared, np.array([2010.0, np.nan]) * YEAR, theirs, 2)
    assert timely[0].tolist() == [np.inf, np.inf, 0.5, 0.6]  # 2010: its time, and the undated face
    assert timely[1].tolist() == squared[1].tolist()  # undated: every face counts
    alone = people._timely(squared[:1], np.array([2005.0]) * YEAR, theirs, 2)
    assert alone.tolist() == squared[:1].tolist()  # one face of its time only: all count, as before


def test_suggest_falls_back_on_every_face_where_those_of_its_time_are_far(tmp_path):
    """Alice's two photos of 2010 are unlike her (a costume, a mask); a face of hers from 2010,
    like her faces of 2000, is still offered: her faces of its time come first, not only."""
    db = tmp_path / "c.db"
    with Catalog.open(db) as catalog, catalog.transaction():
        alice = catalog.create_person("Alice")
        _add(catalog, _around(_axis(0), 6), "2000-06-01T12:00:00", alice)
        _add(catalog, _around(_towards(0, 1, 1.3), 2), "2010-06-01T12:00:00", alice)
        catalog.confirm_person(alice)
        (face,) = _add(catalog, _around(_axis(0), 1), "2010-07-01T12:00:00")
    offered = {s["face"]: s for s in _json(db, "suggest", "Alice")["faces"]}
    assert face in offered and offered[face]["distance"] < 0.5  # measured against her faces of 2000


def test_age_in_whole_years():
    assert people.age("2019-03-02", "2023-03-01T10:00:00") == 3
    assert people.age("2019-03-02", "2023-03-02T10:00:00") == 4
    assert people.age("2019-03-02", "2018-01-01T00:00:00") is None  # before the birth
    assert people.age(None, "2023-03-02T10:00:00") is None and people.age("2019-03-02", None) is None


def test_serve_sets_the_birth_date_and_shows_ages(family):
    """The real server: the birth date by the API (bad ones refused, nothing changed), and the
    age on a photo's faces, in the page and its JSON twin."""
    import httpx

    from tests.test_serve import base_and_token, serving

    db, alice = family["db"], family["alice"]
    with serving(db) as url, httpx.Client(base_url=base_and_token(url)[0], timeout=30) as session:
        session.get(f"/?token={base_and_token(url)[1]}", follow_redirects=False)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', session.get("/").text).group(1)

        def post(body: dict) -> httpx.Response:
            return session.post(f"/api/people/{alice}/born", json=body, headers={"X-CSRF-Token": csrf})

        refused = post({"born": "2015-07-01"})
        assert refused.status_code == 400 and "/photos/0.jpg" in refused.json()["error"]
        assert post({"born": 2015}).status_code == 400 and _person(db, "Alice")["born"] is None
        done = post({"born": "2014-09-30"})
        assert done.status_code == 200 and done.json()["born"] == "2014-09-30"
        assert done.json()["taken"] == [family["early"]]
        with Catalog.open(db) as catalog:  # /photos/0.jpg, taken 2015-06-01: Alice at 0
            photo = catalog.db.execute("SELECT id FROM photos WHERE path = '/photos/0.jpg'").fetchone()[0]
        faces = session.get(f"/photos/{photo}?format=json").json()["faces"]
        assert [f["age"] for f in faces] == [0]
        assert "Alice, 0 years" in session.get(f"/photos/{photo}").text
        assert post({"born": None}).json()["born"] is None
