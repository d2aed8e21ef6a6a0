"""The clustering rules on small synthetic embeddings with known answers."""

import numpy as np
import pytest

from photoface.clustering import (
    NO_PERSON,
    ClusterSettings,
    Decisions,
    Faces,
    exact_neighbours,
    hdbscan_labels,
    new_person,
    plan,
    plan_new,
)


def _blob(centre_seed: int, count: int, spread: float = 0.05, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors close to one random direction."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(centre_seed).normal(size=128)
    points = centre / np.linalg.norm(centre) + rng.normal(scale=spread / np.sqrt(128), size=(count, 128))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _faces(embeddings, persons=None, fixed=None, photos=None, sizes=None) -> Faces:
    n = len(embeddings)
    return Faces(
        ids=np.arange(n),
        photos=np.arange(n) if photos is None else np.asarray(photos),
        embeddings=np.asarray(embeddings, np.float32),
        sizes=np.full(n, 100.0) if sizes is None else np.asarray(sizes, float),
        persons=np.full(n, NO_PERSON) if persons is None else np.asarray(persons),
        fixed=np.zeros(n, bool) if fixed is None else np.asarray(fixed),
    )


SETTINGS = ClusterSettings(min_cluster_size=2, min_samples=1)


def _plan(faces: Faces, named=(), ignored=(), settings=SETTINGS, rejected=()):
    decisions = Decisions(frozenset(named), frozenset(ignored), frozenset(rejected))
    return plan(faces, exact_neighbours(faces.embeddings), decisions, settings)


def test_two_people_become_two_new_people():
    result = _plan(_faces(np.vstack([_blob(1, 6), _blob(2, 5, seed=1)])), set(), set(), SETTINGS)
    assert set(result.persons[:6]) == {new_person(0)} or set(result.persons[:6]) == {new_person(1)}
    assert len(set(result.persons[6:])) == 1 and result.persons[6] != result.persons[0]
    assert result.clusters == 2


def test_cluster_takes_over_the_person_holding_most_faces_and_repeats_stably():
    embeddings = np.vstack([_blob(1, 6), _blob(2, 5, seed=1)])
    persons = np.array([7, 7, 7, NO_PERSON, NO_PERSON, 9] + [NO_PERSON] * 5)
    first = _plan(_faces(embeddings, persons), {7}, set(), SETTINGS)
    assert list(first.persons[:6]) == [7] * 6
    again = _plan(_faces(embeddings, first.persons), {7}, set(), SETTINGS)
    np.testing.assert_array_equal(again.persons[:6], first.persons[:6])


def test_fixed_faces_never_move_and_siblings_are_split_by_confirmed_faces():
    a, b = _blob(1, 4, spread=0.02), _blob(1, 4, spread=0.02, seed=5)
    a = a + 0.02 * _blob(3, 4)  # two look-alikes: one tight cluster, slightly apart
    b = b + 0.02 * _blob(4, 4)
    embeddings = np.vstack([a, b])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    persons = np.array([1, NO_PERSON, NO_PERSON, NO_PERSON, 2, NO_PERSON, NO_PERSON, NO_PERSON])
    fixed = persons != NO_PERSON
    result = _plan(_faces(embeddings, persons, fixed), {1, 2}, set(), SETTINGS)
    assert result.persons[0] == 1 and result.persons[4] == 2
    assert list(result.persons[1:4]) == [1, 1, 1] and list(result.persons[5:]) == [2, 2, 2]


def test_ignored_person_keeps_faces_and_takes_no_new_ones():
    embeddings = _blob(1, 6)
    persons = np.array([5, 5, NO_PERSON, NO_PERSON, NO_PERSON, NO_PERSON])
    result = _plan(_faces(embeddings, persons, persons == 5), set(), {5}, SETTINGS)
    assert list(result.persons) == [5, 5] + [NO_PERSON] * 4


def test_two_faces_of_one_photo_are_never_one_person_automatically():
    embeddings = np.vstack([_blob(1, 5), _blob(2, 5, seed=3)])  # two people, the first twice in photo 0
    photos = [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    result = _plan(_faces(embeddings, photos=photos), set(), set(), SETTINGS)
    assert sorted(result.persons[:2] == NO_PERSON) == [False, True]
    assert len(set(result.persons[2:5])) == 1 and result.persons[2] != NO_PERSON
    persons = np.array([4] + [NO_PERSON] * 9)
    manual = _plan(_faces(embeddings, persons=persons, fixed=persons == 4, photos=photos), {4}, set(), SETTINGS)
    assert manual.persons[0] == 4 and manual.persons[1] == NO_PERSON and manual.persons[2] == 4


def test_small_faces_are_not_clustered():
    result = _plan(_faces(_blob(1, 4), sizes=[100, 100, 100, 10]), set(), set(), SETTINGS)
    assert result.persons[3] == NO_PERSON and len(set(result.persons[:3])) == 1


@pytest.mark.parametrize(("distance", "joins"), [(0.5, True), (0.0001, False)])
def test_noise_joins_the_nearest_named_person_within_the_distance(distance, joins):
    embeddings = np.vstack([_blob(1, 3), _blob(1, 1, spread=0.3, seed=9)])
    persons = np.array([3, 3, 3, NO_PERSON])
    settings = ClusterSettings(min_cluster_size=5, min_samples=1, distance=distance)  # no cluster at all
    result = _plan(_faces(embeddings, persons, persons == 3), {3}, set(), settings)
    assert (result.persons[3] == 3) == joins


def test_graph_clustering_keeps_unconnected_groups_apart():
    """Two people whose faces share no neighbour edge: the graph is in two parts, HDBSCAN still
    sees one tree, and each part is its own cluster."""
    embeddings = np.vstack([_blob(1, 6), _blob(2, 6, seed=1)])
    graph = exact_neighbours(embeddings, k=3)  # 3 neighbours: no edge crosses between the two
    labels = hdbscan_labels(graph, ClusterSettings(min_cluster_size=2, min_samples=2))
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6] and -1 not in labels


def test_neighbours_are_nearest_first_and_never_the_face_itself():
    embeddings = np.vstack([_blob(1, 5), _blob(2, 5, seed=1)])
    graph = exact_neighbours(embeddings, k=4)
    assert (graph.positions != np.arange(10)[:, None]).all()
    assert (np.diff(graph.squared, axis=1) >= 0).all()
    assert set(graph.positions[0]) == {1, 2, 3, 4}


def test_margin_removes_a_member_no_nearer_its_cluster_than_a_stranger():
    """A face between two people at the same distance: within --distance of its cluster, but
    not nearer to it than to the stranger, so it is left alone (the crowded-library case)."""
    a, b = _blob(1, 4, spread=0.3), _blob(2, 4, spread=0.3, seed=1)
    between = (a.mean(axis=0) + b.mean(axis=0))[None]
    embeddings = np.vstack([a, b, between / np.linalg.norm(between)]).astype(np.float32)
    loose = ClusterSettings(min_cluster_size=2, min_samples=1, distance=1.5, sure_distance=1.5)
    strict = ClusterSettings(min_cluster_size=2, min_samples=1, distance=1.5, sure_distance=0.1, margin=0.8)
    assert _plan(_faces(embeddings), settings=loose).persons[8] != NO_PERSON
    assert _plan(_faces(embeddings), settings=strict).persons[8] == NO_PERSON


def test_rejected_face_is_never_given_back_automatically():
    embeddings = _blob(1, 6)
    persons = np.array([3, 3, NO_PERSON, NO_PERSON, NO_PERSON, NO_PERSON])
    faces = _faces(embeddings, persons, persons == 3)
    assert _plan(faces, {3}).persons[4] == 3
    assert _plan(faces, {3}, rejected={(4, 3)}).persons[4] == NO_PERSON


def test_new_faces_join_their_person_and_dense_leftovers_become_a_new_one():
    old, newcomer, strangers = _blob(1, 5), _blob(1, 2, seed=4), _blob(2, 3, seed=2)
    embeddings = np.vstack([old, newcomer, strangers])
    persons = np.array([8] * 5 + [NO_PERSON] * 5)
    new = np.array([False] * 5 + [True] * 5)
    faces = _faces(embeddings, persons, persons == 8)
    result = plan_new(faces, exact_neighbours(embeddings), new, Decisions(named=frozenset({8})), SETTINGS)
    assert list(result.persons[:7]) == [8] * 7
    together = result.persons[7:] == new_person(0)  # HDBSCAN may leave the outermost as noise
    assert together.sum() >= 2 and (result.persons[7:][~together] == NO_PERSON).all()
    alone = np.vstack([embeddings, _blob(3, 1, seed=7)])
    faces = _faces(alone, np.r_[persons, NO_PERSON], np.r_[persons == 8, False])
    lonely = plan_new(faces, exact_neighbours(alone), np.arange(11) == 10, Decisions(), SETTINGS)
    assert lonely.persons[10] == NO_PERSON, "one new face of somebody new is no person yet"
