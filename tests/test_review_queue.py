"""The review queue's questions on a small catalog with known answers: where candidates come
from, "same person?" asked once, and the CLI's answers (reject-merge, move to a new name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photoface import people, review
from photoface.catalog import Catalog
from photoface.cli import EXIT_ERROR, app
from photoface.errors import PhotofaceError
from photoface.index import FaceIndex
from tests.test_corrections import _json, _run

runner = CliRunner()
RNG = np.random.default_rng(7)
SPREAD = 0.02  # per dimension: a person's faces lie about 0.1 apart (squared)


@dataclass(frozen=True)
class StoredFace:
    """A face as the catalog stores it, with a chosen embedding."""

    embedding: np.ndarray
    box: tuple[float, float, float, float] = (10.0, 10.0, 100.0, 100.0)
    score: float = 0.99
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((5, 2), np.float32))
    size: float = 100.0


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _centre(axis: int) -> np.ndarray:
    return np.eye(128, dtype=np.float32)[axis]


def _around(centre: np.ndarray, count: int) -> list[np.ndarray]:
    return [_unit(centre + RNG.normal(0, SPREAD, 128)) for _ in range(count)]


def _away(centre: np.ndarray, axis: int, squared: float) -> np.ndarray:
    """A unit vector at ``squared`` squared distance from ``centre``, towards ``axis``."""
    cos = 1 - squared / 2
    return _unit(cos * centre + np.sqrt(1 - cos**2) * _centre(axis))


def _add_faces(catalog: Catalog, embeddings: list[np.ndarray], person: int | None = None) -> list[int]:
    """One photo per face; with ``person``, the faces are theirs by hand."""
    ids = []
    for embedding in embeddings:
        number = catalog.db.execute("SELECT count(*) FROM photos").fetchone()[0]
        photo = catalog.save_photo(f"/photos/{number}.jpg", size=1, mtime_ns=number, fields={"status": "ok"})
        ids += catalog.replace_faces(photo, [StoredFace(embedding)], "test")
    if person is not None:
        catalog.assign_faces(ids, person, confirmed=True)
    return ids


def _person(catalog: Catalog, embeddings: list[np.ndarray], name: str | None = None) -> int:
    """A person holding these faces: named (confirmed) or, unnamed, as clustering leaves them."""
    person = catalog.create_person(name)
    ids = _add_faces(catalog, embeddings)
    if name is None:
        catalog.set_auto_assignments([(face, None, person) for face in ids])
    else:
        catalog.assign_faces(ids, person, confirmed=True)
        catalog.confirm_person(person)
    return person


@pytest.fixture
def library(tmp_path: Path) -> dict:
    """Alice (40 faces) and Bob (30) named; two unnamed halves of one stranger; an unnamed
    person near Alice; an unassigned face near only Alice (0.4 from her mean face, her own
    faces 0.1 apart fill her neighbour lists)."""
    db = tmp_path / "c.db"
    alice, bob, stranger = _centre(0), _centre(1), _centre(2)
    with Catalog.open(db) as catalog, catalog.transaction():
        ids = {
            "Alice": _person(catalog, _around(alice, 40), "Alice"),
            "Bob": _person(catalog, _around(bob, 30), "Bob"),
            "half": _person(catalog, _around(stranger, 6)),
            "other half": _person(catalog, _around(stranger, 5)),
            "near Alice": _person(catalog, _around(_away(alice, 3, 0.3), 4)),
        }
        (ids["lonely"],) = _add_faces(catalog, [_away(alice, 4, 0.4)])
    return {"db": db, **ids}


def _pairs(merges: list[dict]) -> list[frozenset[int]]:
    return [frozenset((m["person"], m["other"])) for m in merges]


def test_an_unassigned_face_near_only_alice_is_suggested_for_her(library):
    db, lonely = library["db"], library["lonely"]
    with Catalog.open(db) as catalog:  # her own faces fill her faces' neighbour lists
        mine = np.stack([face["embedding"] for face in catalog.faces(person=library["Alice"], embeddings=True)])
        keys, _ = FaceIndex.open(catalog).search(mine, 17)
    assert lonely not in keys
    for args in (["suggest", "Alice", "--limit", "100"], ["suggest"]):
        found = {s["face"]: s for s in _json(db, *args)["faces"]}
        assert lonely in found and found[lonely]["person"] == library["Alice"]
        assert 0.3 < found[lonely]["distance"] < 0.6


def test_same_person_is_asked_once_whichever_way_round(library):
    db = library["db"]
    halves = frozenset((library["half"], library["other half"]))
    assert _pairs(_json(db, "suggest")["merges"]).count(halves) == 1
    with Catalog.open(db) as catalog:
        keys = [q.key for q in review._batch(catalog) if q.kind == "merge"]
    assert len(keys) == len(set(keys)) and len(keys) >= 2
    assert review.Question("merge", 5, other=9).key == review.Question("merge", 9, other=5).key


def test_questions_that_settle_more_come_first(library):
    """The unnamed cluster of 4 likely Alice is asked before one open face much nearer Bob
    (issue 22: "an unnamed cluster that is likely a named person before one more face of a
    person"); faces and merges are in one queue."""
    with Catalog.open(library["db"]) as catalog, catalog.transaction():
        (near_bob,) = _add_faces(catalog, [_away(_centre(1), 5, 0.1)])
    with Catalog.open(library["db"]) as catalog:
        batch = review._batch(catalog)
        queue = people.review_queue(catalog, limit=40)
    keys = [q.key for q in batch]
    near_alice = review.Question("merge", library["near Alice"], other=library["Alice"]).key
    bob = review.Question("face", library["Bob"], face=near_bob).key
    merge = next(m for m in queue.merges if library["near Alice"] in (m.person, m.other))
    assert next(f for f in queue.faces if f.face == near_bob).distance < merge.distance, "the face is nearer"
    assert keys.index(near_alice) < keys.index(bob)
    assert {q.kind for q in batch} == {"face", "merge"}


def test_suggest_for_a_named_person_includes_merges(library):
    merges = _json(library["db"], "suggest", "Alice")["merges"]
    assert _pairs(merges) == [frozenset((library["near Alice"], library["Alice"]))]
    assert _json(library["db"], "suggest", "Bob")["merges"] == []


def test_reject_merge_is_never_asked_again(library):
    db, half, other = library["db"], library["half"], library["other half"]
    before = {f["id"]: f["person"] for f in _json(db, "faces")}
    assert f"person {other} is not person {half}" in _run(db, "reject-merge", str(other), str(half))
    assert frozenset((half, other)) not in _pairs(_json(db, "suggest")["merges"])
    assert {f["id"]: f["person"] for f in _json(db, "faces")} == before  # nobody moved
    near = [f["id"] for f in _json(db, "faces", "--person", str(library["near Alice"]))]
    _run(db, "reject-merge", "Alice", str(library["near Alice"]))  # the unnamed one's faces are rejected
    assert _json(db, "suggest", "Alice")["merges"] == []
    with Catalog.open(db) as catalog:
        assert catalog.rejected(near, library["Alice"]) == sorted(near)
    _run(db, "cluster", "--full")
    assert all(f["person"] != library["Alice"] for f in _json(db, "faces") if f["id"] in near)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reject-merge", "4242", "Alice"], "no person 4242"),
        (["reject-merge", "Alice", "Alcie"], "no person named 'Alcie': did you mean 'Alice'?"),
        (["reject-merge", "Alice", "alice"], "twice: name two different people"),
        (["move", "999999", "Someone New"], "no face 999999"),
        (["move", "1", "1234"], "no person 1234"),
    ],
)
def test_bad_answers_are_one_line_and_change_nothing(library, args, message):
    db = library["db"]
    before = (_json(db, "faces"), _json(db, "people"))
    result = runner.invoke(app, ["--db", str(db), *args])
    assert result.exit_code == EXIT_ERROR
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (_json(db, "faces"), _json(db, "people")) == before


def test_move_to_a_new_name_creates_that_person(library):
    db, lonely = library["db"], library["lonely"]
    said = _run(db, "move", str(lonely), "  Carol   Smith ")
    carol = next(p for p in _json(db, "people") if p["name"] == "Carol Smith")
    assert said.strip() == f"face {lonely} is now person {carol['id']}: a new person named 'Carol Smith'"
    assert [f["id"] for f in _json(db, "faces", "--person", str(carol["id"]))] == [lonely]
    said = _run(db, "move", str(lonely), "alice")  # an existing name (any case): no new person
    assert said.strip() == f"face {lonely} is now person {library['Alice']} (Alice)"


@pytest.fixture
def sisters(tmp_path: Path) -> dict:
    """Alice and Beth, named, 30 faces each, look alike (their mean faces 0.15 apart: barely told
    apart); Dad far from both; one unassigned face between the sisters, another of Alice's alone."""
    db = tmp_path / "c.db"
    alice = _centre(0)
    beth = _away(alice, 1, 0.15)
    with Catalog.open(db) as catalog, catalog.transaction():
        ids = {
            "Alice": _person(catalog, _around(alice, 30), "Alice"),
            "Beth": _person(catalog, _around(beth, 30), "Beth"),
            "Dad": _person(catalog, _around(_centre(5), 30), "Dad"),
        }
        (ids["between"],) = _add_faces(catalog, [_unit(alice + beth)])
        (ids["hers"],) = _add_faces(catalog, [_away(alice, 9, 0.15)])
    return {"db": db, **ids}


def _asked_about(catalog: Catalog, face: int) -> list[review.Question]:
    session = review.ReviewSession()
    asked = []
    while (question := session.current(catalog)) is not None:
        asked += [question] if question.face == face else []
        session.answer(catalog, question, "skip")
    return asked


def _reach(session: review.ReviewSession, catalog: Catalog, face: int) -> review.Question:
    """The session's question on ``face``, skipping those before it."""
    question = session.current(catalog)
    while question.face != face:
        question = session.answer(catalog, question, "skip")
    return question


def test_a_face_two_people_could_be_is_one_question_naming_both(sisters):
    """ "Alice, or Beth?": the face between the sisters is asked once with both; "other" gives
    it to the second, "no" rejects it for both; a face only one of them could be names one."""
    db, between = sisters["db"], sisters["between"]
    (offered,) = [s for s in _json(db, "suggest")["faces"] if s["face"] == between]
    assert {offered["person"], offered["alternative"]} == {sisters["Alice"], sisters["Beth"]}
    assert offered["alternative_learned"] >= 0.6 and offered["alternative_name"] in ("Alice", "Beth")
    (hers,) = [s for s in _json(db, "suggest")["faces"] if s["face"] == sisters["hers"]]
    assert hers["person"] == sisters["Alice"] and hers["alternative"] is None
    table = _run(db, "suggest")
    assert f", or {offered['alternative_name']}?" in table
    assert f"(or confirm {between} {offered['alternative']})" in table
    with Catalog.open(db) as catalog:
        (question,) = _asked_about(catalog, between)  # once, not once per sister
        assert question.other == offered["alternative"]
        session = review.ReviewSession()
        session.answer(catalog, _reach(session, catalog, between), "other")
        assert catalog.face_rows([between])[0]["person_id"] == question.other
        assert catalog.face_rows([between])[0]["confirmed"]  # an answer: rejecting it now contradicts it
        session.undo(catalog)
        assert catalog.face_rows([between])[0]["person_id"] is None
        assert not catalog.face_rows([between])[0]["confirmed"]
        session.answer(catalog, session.current(catalog), "no")
        assert catalog.rejected([between], sisters["Alice"]) and catalog.rejected([between], sisters["Beth"])
        assert _asked_about(catalog, between) == []


def test_other_is_refused_where_the_question_names_one_person(sisters):
    with Catalog.open(sisters["db"]) as catalog:
        session = review.ReviewSession()
        question = _reach(session, catalog, sisters["hers"])
        before = catalog.decision_state([sisters["hers"]], [sisters["Alice"]])
        with pytest.raises(PhotofaceError, match="names one person"):
            session.answer(catalog, question, "other")
        assert catalog.decision_state([sisters["hers"]], [sisters["Alice"]]) == before


def test_the_review_page_asks_alice_or_beth_and_o_answers_beth(sisters, tmp_path):
    """In a real browser: the question names both sisters with both strips of faces, and O (the
    second person's key) gives the face to the second; on a question naming one person, O does
    nothing."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install .[test])")
    from tests.test_serve import SCREENSHOTS, _browser, _shoot, base_and_token, serving

    db, between = sisters["db"], sisters["between"]
    with serving(db) as url, playwright_api.sync_playwright() as driver:
        browser = _browser(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.goto(f"{base_and_token(url)[0]}/review")
        ask = page.locator("#question .ask")
        while ask.get_attribute("data-face") != str(between):
            face = ask.get_attribute("data-face")
            page.keyboard.press("o")  # names one person: nothing happens
            assert ask.get_attribute("data-face") == face
            page.keyboard.press("s")
            playwright_api.expect(page.locator(f'#question .ask[data-face="{face}"]')).to_have_count(0)
            playwright_api.expect(page.locator("#toast")).to_be_hidden()  # no refusal was asked for
        other = int(ask.get_attribute("data-other"))
        names = {sisters["Alice"]: "Alice", sisters["Beth"]: "Beth"}
        first = names[int(ask.get_attribute("data-person"))]
        playwright_api.expect(page.locator("#question h1")).to_have_text(f"Is this {first}, or {names[other]}?")
        playwright_api.expect(page.locator("#question .strip")).to_have_count(2)
        playwright_api.expect(page.locator('#question [data-answer="other"]')).to_have_text(f"{names[other]} (O)")
        _shoot(page, Path(SCREENSHOTS) if SCREENSHOTS else tmp_path, "alice-or-beth")
        page.keyboard.press("o")
        playwright_api.expect(page.locator(f'#question .ask[data-face="{between}"]')).to_have_count(0)
        browser.close()
    owner = next(f["person"] for f in _json(db, "faces") if f["id"] == between)
    assert owner == other
