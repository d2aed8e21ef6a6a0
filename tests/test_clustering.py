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
    merge,
    new_person,
    plan,
    plan_new,
)


def _blob(centre_seed: int, count: int, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors close to one random direction: squared distances about
    ``2 spread^2`` (0.18), as between real photos of one person; far tighter (within
    ``photoface.copies.COPY_DISTANCE``) they would be near-copies of one face."""
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
    a, b = _blob(1, 4, spread=0.35), _blob(1, 4, spread=0.35, seed=5)
    a = a + 0.5 * _blob(3, 4, spread=0)  # two look-alikes: one tight cluster, slightly apart
    b = b + 0.5 * _blob(4, 4, spread=0)
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
    old, newcomer, strangers = _blob(1, 5), _blob(1, 2, seed=4), _blob(2, 3, seed=3)
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


def test_answers_place_the_unassigned_faces_around_them():
    """Confirming faces of a person (or rejecting one from another) is a decision the next
    incremental clustering acts on: the open faces around the decided ones are placed again."""
    alice, open_faces, bob = _blob(1, 4), _blob(1, 2, seed=4), _blob(2, 3, seed=3)
    embeddings = np.vstack([alice, open_faces, bob])
    persons = np.array([8] * 4 + [NO_PERSON] * 2 + [9] * 3)
    faces = _faces(embeddings, persons, persons >= 0)
    graph, none_new = exact_neighbours(embeddings), np.zeros(9, bool)
    decisions = Decisions(named=frozenset({8, 9}))
    untouched = plan_new(faces, graph, none_new, decisions, SETTINGS)
    assert (untouched.persons[4:6] == NO_PERSON).all(), "nothing new, nothing decided: nothing moves"
    confirmed = np.arange(9) < 4  # the user just confirmed Alice's four faces
    placed = plan_new(faces, graph, none_new, decisions, SETTINGS, decided=confirmed)
    assert list(placed.persons) == [8] * 6 + [9] * 3
    rejected = Decisions(named=frozenset({8, 9}), rejected=frozenset({(4, 8)}))  # "face 4 is not Alice"
    told = plan_new(faces, graph, none_new, rejected, SETTINGS, decided=np.arange(9) == 4)
    assert told.persons[4] == NO_PERSON and told.persons[5] == 8


def _pieces(offset: float = 0.45):
    """One person in two pieces (say phone selfies and dark webcam shots): each tight, the
    pieces ``offset`` apart, and far from everyone else."""
    centre = _blob(1, 1, spread=0.0)[0]
    shift = _blob(2, 1, spread=0.0)[0]
    shift -= (shift @ centre) * centre  # a direction away from the centre
    shift *= offset / np.linalg.norm(shift)
    first, second = _blob(1, 4, spread=0.2), _blob(1, 4, spread=0.2, seed=3)
    second = second + shift
    embeddings = np.vstack([first, second / np.linalg.norm(second, axis=1, keepdims=True)]).astype(np.float32)
    return embeddings, np.array([0] * 4 + [1] * 4)


def _merge(embeddings, labels, photos=None, owners=None, settings=None):
    n, settings = len(embeddings), settings or ClusterSettings()
    return merge(
        exact_neighbours(embeddings),
        labels,
        embeddings,
        distance=settings.merge_distance,
        sure=settings.sure_distance,
        margin=settings.margin,
        photos=np.arange(n) if photos is None else np.asarray(photos),
        owners=np.full(n, -1) if owners is None else np.asarray(owners),
    )


def test_pieces_of_one_person_close_on_average_merge():
    embeddings, labels = _pieces()
    squared = 2 - 2 * embeddings[:4] @ embeddings[4:].T
    assert 0.0 < squared.mean() <= ClusterSettings.sure_distance  # the average-link distance
    merged = _merge(embeddings, labels)
    assert len(set(merged)) == 1 and -1 not in merged
    assert list(_merge(embeddings, labels, settings=ClusterSettings(merge_distance=0.0, sure_distance=0.0))) == list(
        labels
    )


def test_merge_keeps_apart_two_faces_of_one_photo_and_two_peoples_fixed_faces():
    embeddings, labels = _pieces()
    photos = np.arange(8)
    photos[4] = photos[0]  # a face of each piece in one photo: two people
    assert len(set(_merge(embeddings, labels, photos=photos))) == 2
    owners = np.array([5, -1, -1, -1, 6, -1, -1, -1])  # confirmed for two people
    assert len(set(_merge(embeddings, labels, owners=owners))) == 2
    owners[4] = 5  # the same person: they merge
    assert len(set(_merge(embeddings, labels, owners=owners))) == 1


def test_merge_needs_a_margin_over_the_nearest_other_cluster_in_a_crowd():
    """Beyond the sure distance, two clusters merge only when they are clearly nearer each
    other than any third: among three look-alikes equally far apart, nobody merges."""
    rng = np.random.default_rng(11)
    basis, _ = np.linalg.qr(rng.normal(size=(128, 4)))
    centre, directions = basis[:, 0], basis[:, 1:].T

    def piece(direction, seed):
        noise = np.random.default_rng(seed).normal(scale=0.2 / np.sqrt(128), size=(4, 128))
        points = centre + 0.75 * direction + noise  # pieces about 0.8 apart on average
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    pieces = [piece(d, seed) for seed, d in enumerate(directions)]
    two = np.vstack(pieces[:2]).astype(np.float32)
    between = (2 - 2 * pieces[0] @ pieces[1].T).mean()
    assert ClusterSettings.sure_distance < between <= ClusterSettings.merge_distance
    assert len(set(_merge(two, np.repeat([0, 1], 4)))) == 1, "two pieces, nobody else near: one person"
    three = np.vstack(pieces).astype(np.float32)
    assert len(set(_merge(three, np.repeat([0, 1, 2], 4)))) == 3, "three equally far: no margin, no merge"
