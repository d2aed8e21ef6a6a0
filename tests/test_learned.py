"""Every answer teaches (``photoface.learned``): a rejection keeps a face, its near-copies and its
look-alikes away from the person; the learned scores are derived from the catalog alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photoface import learned, people, review
from photoface.catalog import Catalog
from photoface.clustering import Faces
from tests.test_corrections import _json, _run
from tests.test_review_queue import StoredFace, _add_faces, _around, _away, _centre, _person


@pytest.fixture
def family(tmp_path: Path) -> dict:
    """Alice (30 faces) and Dad (30) named; unassigned: three faces of her look-alike sister
    (0.5 from Alice's mean face, nearer her than anyone named), one of them copied, and two
    more faces of Alice."""
    db = tmp_path / "c.db"
    alice, dad = _centre(0), _centre(1)
    sister = _away(alice, 5, 0.5)
    with Catalog.open(db) as catalog, catalog.transaction():
        ids = {"Alice": _person(catalog, _around(alice, 30), "Alice"), "Dad": _person(catalog, _around(dad, 30), "Dad")}
        ids["sister"] = _add_faces(catalog, _around(sister, 3))
        (ids["copy"],) = _add_faces(catalog, [sister])  # another photo of the same shot
        catalog.set_copies([(ids["copy"], ids["sister"][0])])
        ids["more Alice"] = _add_faces(catalog, _around(alice, 2))
    return {"db": db, **ids}


def _suggested(db: Path) -> dict[int, dict]:
    return {s["face"]: s for s in _json(db, "suggest", "--limit", "100")["faces"]}


def _alice_scores(db: Path, faces: list[int], alice: int) -> np.ndarray:
    with Catalog.open(db) as catalog:
        data = catalog.cluster_input()
    arrays = Faces(**data.arrays)
    model = learned.learn(arrays, data.named, data.rejections)
    return model.score(arrays.embeddings[np.searchsorted(arrays.ids, faces)], alice)


def test_a_rejection_teaches(family):
    db, alice, (rejected, *others) = family["db"], family["Alice"], family["sister"]
    before = _suggested(db)
    assert {*others, *family["more Alice"]} <= set(before)
    (shot,) = [s for s in before.values() if s["face"] in {rejected, family["copy"]}]  # one question
    assert set(shot["copies"]) == {rejected, family["copy"]} - {shot["face"]}
    (copy,) = shot["copies"]
    table = _run(db, "suggest", "--limit", "100")  # one line, answered for both
    assert f"{shot['face']} (+1 copy)" in table and f"photoface confirm|reject {shot['face']} {copy} {alice}" in table
    scores_before = _alice_scores(db, others, alice)
    _run(db, "reject", str(rejected), "Alice")
    after = _suggested(db)
    assert rejected not in after
    assert family["copy"] not in after  # the same shot: the same answer
    assert set(family["more Alice"]) <= set(after)  # her own faces are still asked
    assert np.all(_alice_scores(db, others, alice) < scores_before)  # her sister's other faces drop
    for face in others:
        if face in after:
            assert after[face]["learned"] < before[face]["learned"]


def test_the_learned_scores_come_from_the_catalog_alone(family):
    """Nothing is stored (no file beside the catalog, no table): computed again, in another
    process, the scores give the same suggestions."""
    db = family["db"]
    _run(db, "reject", str(family["sister"][0]), "Alice")
    first = _json(db, "suggest", "--limit", "100")  # builds the face index (derived, beside the catalog)
    files = sorted(path.name for path in db.parent.iterdir())
    assert _json(db, "suggest", "--limit", "100") == first
    assert sorted(path.name for path in db.parent.iterdir()) == files
    with Catalog.open(db) as catalog:
        data = catalog.cluster_input()
    one, two = (learned.learn(Faces(**data.arrays), data.named, data.rejections) for _ in range(2))
    np.testing.assert_array_equal(one.weights, two.weights)


def test_a_face_the_model_rules_out_is_not_asked(family, monkeypatch):
    db = family["db"]
    assert _suggested(db)
    monkeypatch.setattr(learned, "CUT", 10.0)  # no score reaches it
    assert _suggested(db) == {}


def test_the_queue_says_how_much_is_left(family):
    db = family["db"]
    shown = _json(db, "suggest", "--limit", "3")
    # All the faces above, not the three shown; the shot and its near-copy are one question.
    assert len(shown["faces"]) == 3 and shown["left"] == 5
    assert "about 5 questions left" in _run(db, "suggest", "--limit", "3")
    with Catalog.open(db) as catalog:
        session = review.ReviewSession()
        question = session.current(catalog)
        left = session.left
        assert left == 5
        session.answer(catalog, question, "skip")
        assert session.left == left - 1


def test_one_answer_settles_a_shot_and_its_near_copies(family):
    """The same shot saved twice is one question: "no" rejects both, and after undo "yes"
    confirms both; the rest is still asked."""
    db, shot = family["db"], sorted({family["sister"][0], family["copy"]})
    alice = family["Alice"]
    with Catalog.open(db) as catalog:
        session = review.ReviewSession()
        session.current(catalog)
        (question,) = [q for q in session._queue if q.face in shot]
        session.answer(catalog, question, "no")
        assert catalog.rejected(shot, alice) == shot
        assert not {q.face for q in session._queue} & set(shot)
        session.undo(catalog)
        assert catalog.rejected(shot, alice) == []
        session.answer(catalog, question, "yes")
        assert [row["person_id"] for row in catalog.face_rows(shot)] == [alice, alice]
        assert people.suggest(catalog, limit=100)[0]  # the rest is still asked


def test_a_face_beside_hers_is_someone_else(family):
    """One photo shows a person once: the sister's face in a group photo beside a confirmed face
    of Alice is never asked for Alice, and it teaches without a question: her sister's other
    faces score lower for Alice than before the group photo was scanned."""
    db, alice = family["db"], family["Alice"]
    others = family["sister"][1:]
    before = _alice_scores(db, others, alice)
    with Catalog.open(db) as catalog, catalog.transaction():
        photo = catalog.save_photo("/photos/group.jpg", size=1, mtime_ns=1, fields={"status": "ok"})
        hers, beside = catalog.replace_faces(
            photo, [StoredFace(_around(_centre(0), 1)[0]), StoredFace(_away(_centre(0), 5, 0.45))], "test"
        )
        catalog.assign_faces([hers], alice, confirmed=True)
    assert beside not in _suggested(db)
    assert np.all(_alice_scores(db, others, alice) < before)
    with Catalog.open(db) as catalog:  # learned from the photo alone: no rejection was stored
        assert not catalog.rejected([beside], alice)


def _named_faces(centres: np.ndarray, each: int, noise: float) -> Faces:
    rng = np.random.default_rng(3)
    embeddings = np.concatenate([centre + rng.normal(0, noise, (each, 128)) for centre in centres])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    n = len(embeddings)
    persons = np.repeat(np.arange(len(centres)), each)
    ids = np.arange(n)
    return Faces(ids, ids, embeddings.astype(np.float32), np.full(n, 100.0), persons, np.ones(n, bool))


def test_the_penalty_is_chosen_by_the_library():
    """Left out one face at a time, the library's own named faces choose the ridge penalty:
    siblings (ten people a little apart around one face) need a weak one to be told apart;
    strangers (far apart, a few noisy photos each) keep the strongest, the smoother model."""
    eye = np.eye(128)
    siblings = _named_faces(eye[0] + 0.1 * eye[1:11], each=12, noise=0.02)
    strangers = _named_faces(eye[:20], each=3, noise=0.08)
    for faces, expected in ((siblings, lambda r: r < learned.RIDGES[0]), (strangers, lambda r: r == learned.RIDGES[0])):
        model = learned.learn(faces, frozenset(range(int(faces.persons.max()) + 1)), frozenset())
        x = np.hstack([faces.embeddings.astype(np.float64), np.ones((len(faces.ids), 1))])
        sums = np.zeros((int(faces.persons.max()) + 1, 129))
        np.add.at(sums, faces.persons, x)
        ridge = learned.chosen_ridge(x, sums, faces.persons)
        assert expected(ridge), ridge
        assert np.array_equal(np.argmax(faces.embeddings @ model.weights + model.bias, axis=1), faces.persons)


def test_a_clip_can_show_her_twice(family):
    """A video's tracks share its photo: one person can leave the frame and come back, so a
    second track of Alice in a clip where one is confirmed is still asked for her."""
    db, alice = family["db"], family["Alice"]
    with Catalog.open(db) as catalog, catalog.transaction():
        clip = catalog.save_photo("/photos/clip.mov", size=1, mtime_ns=2, fields={"status": "ok", "kind": "video"})
        first, again = catalog.replace_faces(clip, [StoredFace(v) for v in _around(_centre(0), 2)], "test")
        catalog.assign_faces([first], alice, confirmed=True)
    assert again in _suggested(db)
    with Catalog.open(db) as catalog:
        data = catalog.cluster_input()
    assert not data.stills[np.searchsorted(data.arrays["ids"], [first, again])].any()
