"""Near-copies are one face: a re-saved, resized or cropped copy of a photo, a copy of a copy,
and one face repeated in a collage never split, shrink or make a person (photoface/copies.py).

Unit tests on arrays with known answers, then the real CLI on fivecelebs."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoface import copies
from photoface.clustering import NO_PERSON, ClusterSettings, Decisions, exact_neighbours, plan, plan_new
from tests.conftest import data_path
from tests.test_clustering import _blob, _faces
from tests.test_corrections import _json, _run

SETTINGS = ClusterSettings(min_cluster_size=2, min_samples=1)


def _copy_of(vector: np.ndarray, seed: int, noise: float = 0.02) -> np.ndarray:
    """A near-copy of a face: the same vector, slightly moved (squared distance ~noise^2)."""
    moved = vector + np.random.default_rng(seed).normal(scale=noise / np.sqrt(128), size=128)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def _library() -> np.ndarray:
    """Two people of six varied faces each."""
    return np.vstack([_blob(1, 6), _blob(2, 6, seed=1)])


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_groups_join_a_chain_of_copies_and_the_oldest_face_is_the_original():
    base = _library()
    chain = [_copy_of(base[0], 1)]
    chain.append(_copy_of(chain[0], 2))  # a copy of the copy
    embeddings = np.vstack([base, *chain])
    faces = _faces(embeddings)
    groups = copies.find(faces, exact_neighbours(embeddings), np.ones(len(embeddings), bool))
    assert list(groups.original[[0, 12, 13]]) == [0, 0, 0]
    assert list(groups.copy_of()) == [-1] * 12 + [0, 0]
    assert list(groups.leaders) == list(range(12))
    folded = groups.fold_graph(exact_neighbours(embeddings))
    assert folded.positions.shape == (12, exact_neighbours(embeddings).positions.shape[1])
    for row in folded.positions:  # each other group once, never the own one
        present = row[row >= 0]
        assert len(present) == len(set(present.tolist()))
    assert 0 not in folded.positions[0]
    persons = np.arange(12) + 100
    np.testing.assert_array_equal(groups.expand(persons, faces), np.r_[persons, 100, 100])


def test_copies_change_no_person_and_join_their_original():
    base = _library()
    alone = plan(_faces(base), exact_neighbours(base), Decisions(), SETTINGS).persons
    embeddings = np.vstack([base, _copy_of(base[0], 1), _copy_of(base[0], 2), _copy_of(base[7], 3)])
    result = plan(_faces(embeddings), exact_neighbours(embeddings), Decisions(), SETTINGS)
    assert _same_partition(result.persons[:12], alone)
    assert list(result.persons[12:]) == [result.persons[0], result.persons[0], result.persons[7]]
    assert list(result.copy_of[12:]) == [0, 0, 7]


def test_a_fixed_copy_leads_its_group_and_a_rejected_copy_leaves_it():
    base = _library()
    embeddings = np.vstack([base, _copy_of(base[0], 1), _copy_of(base[0], 2)])
    persons = np.full(14, NO_PERSON)
    persons[12] = 7  # the user put one copy on person 7
    faces = _faces(embeddings, persons=persons, fixed=persons == 7)
    decisions = Decisions(named=frozenset({7}), rejected=frozenset({(13, 7)}))
    result = plan(faces, exact_neighbours(embeddings), decisions, SETTINGS).persons
    assert result[12] == 7 and result[0] == 7, "the original follows its fixed copy"
    assert result[13] == NO_PERSON, "a copy rejected for the person stays off them"


def test_one_face_repeated_in_one_photo_makes_no_person():
    base = _library()
    stranger = _blob(3, 1, seed=4)[0]
    repeats = [_copy_of(stranger, seed) for seed in range(4)]  # a collage: one photo, four times
    embeddings = np.vstack([base, *repeats])
    photos = np.r_[np.arange(12), [99] * 4]
    result = plan(_faces(embeddings, photos=photos), exact_neighbours(embeddings), Decisions(), SETTINGS).persons
    assert (result[12:] == NO_PERSON).all()
    mine = np.vstack([base, *[_copy_of(base[0], seed) for seed in range(3)]])
    photos = np.r_[np.arange(12), [0] * 3]  # the person's own face repeated in their photo
    result = plan(_faces(mine, photos=photos), exact_neighbours(mine), Decisions(), SETTINGS).persons
    assert (result[12:] == result[0]).all() and result[0] != NO_PERSON


def test_a_new_copy_joins_its_original_person_incrementally():
    base = _library()
    persons = np.array([4] * 6 + [5] * 6)
    embeddings = np.vstack([base, _copy_of(base[3], 1), _copy_of(base[9], 2)])
    faces = _faces(embeddings, persons=np.r_[persons, NO_PERSON, NO_PERSON])
    new = np.r_[np.zeros(12, bool), True, True]
    result = plan_new(faces, exact_neighbours(embeddings), new, Decisions(), SETTINGS).persons
    assert list(result) == [*persons, 4, 5]


# ---------------------------------------------------------------- the real CLI on fivecelebs

BEN = "Ben Affleck"


def _people_of(db: Path) -> dict[int, frozenset[int]]:
    """Each person's faces, as sets of face ids."""
    found: dict[int, set[int]] = {}
    for face in _json(db, "faces"):
        if face["person"] is not None:
            found.setdefault(face["person"], set()).add(face["id"])
    return {person: frozenset(ids) for person, ids in found.items()}


def _save_copies(photo: Path, folder: Path) -> list[Path]:
    """A WebP (q90), a PNG, a re-encoded JPEG (q75) and a 90% centre crop of ``photo``."""
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.open(photo).convert("RGB")
    dx, dy = image.width // 20, image.height // 20
    made = [folder / "copy.webp", folder / "copy.png", folder / "copy.jpg", folder / "crop.jpg"]
    image.save(made[0], quality=90)
    image.save(made[1])
    image.save(made[2], quality=75)
    image.crop((dx, dy, image.width - dx, image.height - dy)).save(made[3], quality=92)
    return made


@pytest.fixture(scope="module")
def clustered(fivecelebs, tmp_path_factory) -> tuple[Path, Path]:
    """fivecelebs' training photos scanned and clustered once; tests work on copies of it."""
    root = tmp_path_factory.mktemp("copies")
    shutil.copytree(fivecelebs / "train", root / "library")
    db = root / "c.db"
    _run(db, "scan", str(root / "library"))
    _json(db, "cluster")
    return root / "library", db


@pytest.fixture
def catalog(clustered, tmp_path) -> tuple[Path, Path]:
    library, db = clustered
    with sqlite3.connect(db) as source, sqlite3.connect(tmp_path / "c.db") as target:
        source.backup(target)  # with what the WAL holds
    return library, tmp_path / "c.db"


def _ben(db: Path) -> tuple[int, Path]:
    """Ben Affleck's person and one of his photos holding only his face."""
    faces = _json(db, "faces")
    count = {}
    for face in faces:
        count[face["photo"]] = count.get(face["photo"], 0) + 1
    for face in faces:
        if f"/{BEN}/" in face["photo"] and face["person"] is not None and count[face["photo"]] == 1:
            return face["person"], Path(face["photo"])
    pytest.fail("Ben Affleck was not clustered")


@pytest.mark.parametrize("full", [False, True], ids=["cluster", "cluster --full"])
def test_resaved_copies_change_no_person_and_join_theirs(catalog, tmp_path, full):
    _library, db = catalog
    before = _people_of(db)
    ben, photo = _ben(db)
    made = _save_copies(photo, tmp_path / "exports")
    _run(db, "scan", str(tmp_path / "exports"))
    _json(db, "cluster", *(["--full"] if full else []))
    after = _people_of(db)
    copied = {f["id"]: f for f in _json(db, "faces") if f["photo"] in {str(p) for p in made}}
    originals = {person: faces - set(copied) for person, faces in after.items()}
    assert sorted(before.values(), key=min) == sorted((f for f in originals.values() if f), key=min)
    (original,) = [f["id"] for f in _json(db, "faces", "--photo", str(photo))]
    assert all(face["person"] == ben and face["copy_of"] == original for face in copied.values())
    assert _json(db, "status")["near_duplicates"] >= len(made)


def _overlap(a: list[float], b: list[float]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("full", [False, True], ids=["cluster", "cluster --full"])
def test_small_faces_resized_cropped_or_edited_are_copies_of_theirs(catalog, tmp_path, full):
    """A group photo's 25-45 px faces: a resized copy's embeddings drift as far as another photo
    of the person (beyond ``COPY_DISTANCE``); the pixels around each face still say it is a copy."""
    _library, db = catalog
    group = tmp_path / "group" / "group.jpg"
    group.parent.mkdir()
    image = Image.open(data_path("people", "_groups", "group_04.jpg")).convert("RGB")
    image.save(group, quality=95)
    _run(db, "scan", str(group.parent))
    _json(db, "cluster")
    folder = tmp_path / "exports"
    folder.mkdir()
    dx, dy = image.width // 25, image.height // 25
    image.resize((round(image.width * 0.75), round(image.height * 0.75)), Image.Resampling.LANCZOS).save(
        folder / "small.jpg", quality=70
    )
    image.crop((dx, dy, image.width - dx, image.height - dy)).save(folder / "crop.jpg", quality=92)
    shifts = {"small.jpg": (0.0, 0.0, 1 / 0.75), "crop.jpg": (dx, dy, 1.0)}
    _run(db, "scan", str(folder))
    _json(db, "cluster", *(["--full"] if full else []))
    faces = _json(db, "faces")
    originals = [f for f in faces if f["photo"] == str(group)]
    with sqlite3.connect(db) as connection:
        vectors = {i: np.frombuffer(e, np.float32) for i, e in connection.execute("SELECT id, embedding FROM faces")}
    checked, beyond = 0, 0
    for face in (f for f in faces if Path(f["photo"]).parent == folder and f["size"] >= 20):
        x, y, scale = shifts[Path(face["photo"]).name]
        box = [face["box"][0] * scale + x, face["box"][1] * scale + y, face["box"][2] * scale, face["box"][3] * scale]
        (original,) = [o for o in originals if _overlap(box, o["box"]) > 0.5]
        assert face["copy_of"] == original["id"], (face["photo"], face["box"])
        assert face["person"] == original["person"]
        checked += 1
        beyond += float(np.sum((vectors[face["id"]] - vectors[original["id"]]) ** 2)) > copies.COPY_DISTANCE
    assert checked >= 10 and beyond >= 3, (checked, beyond)


def test_a_copy_of_a_copy_whose_original_is_gone(catalog, tmp_path, fivecelebs):
    _library, db = catalog
    before = _people_of(db)
    first = tmp_path / "first"
    first.mkdir()
    original, other = first / "original.jpg", first / "other.jpg"
    photos = sorted((fivecelebs / "val" / BEN).glob("*.jpg"))
    shutil.copy(photos[0], original)
    shutil.copy(photos[1], other)  # the folder stays (an empty one reads as an unmounted drive)
    _run(db, "scan", str(first))
    _json(db, "cluster")
    (was,) = [f["person"] for f in _json(db, "faces", "--photo", str(original))]
    chain = tmp_path / "chain"
    chain.mkdir()
    Image.open(original).convert("RGB").save(chain / "copy.png")
    Image.open(chain / "copy.png").save(chain / "copy of copy.webp", quality=90)
    original.unlink()  # gone before the copies are clustered
    _run(db, "scan", str(first), str(chain))
    _json(db, "cluster")
    faces = {Path(f["photo"]).name: f for f in _json(db, "faces") if Path(f["photo"]).parent == chain}
    assert faces["copy.png"]["person"] == faces["copy of copy.webp"]["person"] == was
    assert not _json(db, "faces", "--photo", str(other)) or not any(
        f["photo"] == str(original) for f in _json(db, "faces")
    ), "the original left the catalog"
    png, webp = faces["copy.png"], faces["copy of copy.webp"]
    assert {png["copy_of"], webp["copy_of"]} in ({None, webp["id"]}, {None, png["id"]}), "one group of two"
    known = frozenset().union(*before.values())  # the library's faces, none of the new ones
    after = [faces & known for faces in _people_of(db).values()]
    assert sorted(before.values(), key=min) == sorted((f for f in after if f), key=min)


def test_a_collage_repeating_a_face_makes_no_one_face_people(catalog, tmp_path):
    _library, db = catalog
    before = _people_of(db)
    ben, photo = _ben(db)
    stranger = sorted(data_path("people", "_strangers").glob("*.jpg"))[0]
    folder = tmp_path / "collages"
    folder.mkdir()
    for name, source in (("stranger.jpg", stranger), ("ben.jpg", photo)):
        tile = Image.open(source).convert("RGB")
        tile.thumbnail((400, 400))
        sheet = Image.new("RGB", (tile.width * 4, tile.height))
        for k in range(4):
            sheet.paste(tile, (k * tile.width, 0))
        sheet.save(folder / name, quality=92)
    _run(db, "scan", str(folder))
    for args in ((), ("--full",)):
        _json(db, "cluster", *args)
        after = _people_of(db)
        assert all(len(faces) > 1 for faces in after.values()), "no one-face people"
        collage = [f for f in _json(db, "faces") if Path(f["photo"]).parent == folder]
        bens = [f for f in collage if f["photo"].endswith("ben.jpg")]
        strangers = [f for f in collage if f["photo"].endswith("stranger.jpg")]
        assert len(bens) >= 3 and {f["person"] for f in bens} == {ben}
        assert {f["person"] for f in strangers} <= {None}
        added = {f["id"] for f in collage}
        assert sorted(before.values(), key=min) == sorted((f - added for f in after.values()), key=min)
    merges = _json(db, "suggest")["merges"]
    assert all(m["distance"] > copies.COPY_DISTANCE for m in merges), "no 'same person?' pairs of one face"
