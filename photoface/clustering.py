"""Grouping faces into people: HDBSCAN plus the rules that keep the user's decisions.

Pure functions over arrays; ``photoface.people`` reads them from and writes them to the catalog.

The rules, in order:

1. Fixed faces never change: manual decisions (named/confirmed, moved) and the faces of
   ignored people.
2. Faces smaller than ``min_face_size`` are stored but not clustered.
3. HDBSCAN groups the eligible faces (fixed ones included, so clusters form around them).
   HDBSCAN knows no absolute distance (two strangers who are each other's nearest
   neighbours make a "cluster"), so an absolute, local rule refines it: a member stays when
   its two nearest faces in the cluster are within ``distance`` on average (``refine``).
   A cluster takes over the person holding most of its faces; if it holds confirmed faces
   of several people (look-alikes, siblings), each free face goes to the nearest of them;
   a cluster of nobody's faces becomes a new person; one led by an ignored person stays
   unassigned.
4. Faces still left over join a *named* person when their two nearest named faces are that
   person's and within ``distance`` (``vote``).
5. Two faces of one photo are never the same person automatically: the best match stays,
   the others are left unassigned (none at all where a face there is fixed to that person).

Deterministic: the same faces and decisions give the same result, so clustering twice in a
row changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_PERSON = -1


@dataclass(frozen=True)
class ClusterSettings:
    min_cluster_size: int = 2
    min_samples: int = 2
    selection_method: str = "eom"  # HDBSCAN's cluster_selection_method: "eom" or "leaf"
    selection_epsilon: float = 0.0  # HDBSCAN's cluster_selection_epsilon (Euclidean on unit vectors)
    # The most a face's mean squared distance to its nearest faces of a person may be (0..4).
    distance: float = 1.0  # chosen on the default profile's int8 embeddings (README)
    min_face_size: float = 20.0  # pixels, the box's shorter side


@dataclass(frozen=True)
class Faces:
    """The faces to cluster, as parallel arrays sorted by face id."""

    ids: np.ndarray  # (N,) int
    photos: np.ndarray  # (N,) int photo ids
    embeddings: np.ndarray  # (N, 128) float32 unit vectors
    sizes: np.ndarray  # (N,) float
    persons: np.ndarray  # (N,) int, NO_PERSON when unassigned
    fixed: np.ndarray  # (N,) bool: manual decision or ignored person


@dataclass(frozen=True)
class Plan:
    """The outcome: each face's person; new people are numbered -2, -3, ... (``new_person(k)``)."""

    persons: np.ndarray
    clusters: int  # clusters HDBSCAN found
    noise_attached: int


def new_person(k: int) -> int:
    """The placeholder of the k-th new person (k >= 0) in ``Plan.persons``."""
    return -2 - k


def hdbscan_labels(embeddings: np.ndarray, settings: ClusterSettings) -> np.ndarray:
    """HDBSCAN cluster labels (-1 for noise) of unit embeddings, Euclidean."""
    if len(embeddings) < max(2, settings.min_cluster_size):
        return np.full(len(embeddings), -1)
    import hdbscan  # imported here: it takes a second, and only clustering needs it

    model = hdbscan.HDBSCAN(
        min_cluster_size=settings.min_cluster_size,
        min_samples=settings.min_samples,
        cluster_selection_method=settings.selection_method,
        cluster_selection_epsilon=settings.selection_epsilon,
        metric="euclidean",
        core_dist_n_jobs=1,
    )
    return model.fit_predict(embeddings.astype(np.float64))


NEIGHBOURS = 2  # how many of a person's nearest faces decide whether a face is theirs


def refine(embeddings: np.ndarray, labels: np.ndarray, distance: float) -> np.ndarray:
    """HDBSCAN labels under an absolute, local rule: a member stays in its cluster when its
    ``NEIGHBOURS`` nearest faces there are within ``distance`` (mean squared distance).

    Members that fail become noise: a stray look-alike, a pair of strangers. Local rather
    than against the whole cluster, so a varied but real person (glasses, profile, age) is
    not cut apart.
    """
    labels = labels.copy()
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        squared = 2 - 2 * embeddings[members] @ embeddings[members].T
        np.fill_diagonal(squared, np.inf)
        k = min(NEIGHBOURS, len(members) - 1)
        keep = np.partition(squared, k - 1, axis=1)[:, :k].mean(axis=1) <= distance
        labels[members[~keep]] = -1
        if keep.sum() < 2:
            labels[members] = -1
    return labels


def vote(queries: np.ndarray, references: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query face: the label held by most of its ``NEIGHBOURS`` nearest reference faces
    (-1 without a majority) and the mean squared distance to those neighbours."""
    winners = np.full(len(queries), -1)
    means = np.full(len(queries), np.inf)
    k = min(NEIGHBOURS, len(references))
    if not k:
        return winners, means
    for start in range(0, len(queries), 256):  # 256 x N distances at a time: bounded memory
        squared = 2 - 2 * queries[start : start + 256] @ references.T
        nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
        means[start : start + 256] = np.take_along_axis(squared, nearest, axis=1).mean(axis=1)
        for row, near in enumerate(labels[nearest]):
            values, counts = np.unique(near, return_counts=True)
            if counts.max() * 2 > k:
                winners[start + row] = values[np.argmax(counts)]
    return winners, means


def plan(faces: Faces, named: set[int], ignored: set[int], settings: ClusterSettings) -> Plan:
    """Who each face is after clustering, following the module's rules."""
    result = np.where(faces.fixed, faces.persons, NO_PERSON)
    eligible = np.flatnonzero((faces.sizes >= settings.min_face_size) | faces.fixed)
    labels = refine(faces.embeddings[eligible], hdbscan_labels(faces.embeddings[eligible], settings), settings.distance)
    means = _means(faces)
    new_count = 0
    for label in np.unique(labels[labels >= 0]):
        members = eligible[labels == label]
        free = members[~faces.fixed[members]]
        owner = _owner(faces, members)
        if owner is None:
            result[free] = new_person(new_count)
            new_count += 1
        elif owner in ignored:
            continue
        else:
            result[free] = _split_between_confirmed(faces, members, free, owner=owner, means=means)
    noise = eligible[(labels < 0) & ~faces.fixed[eligible]]
    attached = _attach_to_named(faces, noise, result, named=named, distance=settings.distance)
    _one_face_per_person_per_photo(faces, result)
    return Plan(result, int(labels.max() + 1) if len(labels) else 0, attached)


def _means(faces: Faces) -> dict[int, np.ndarray]:
    """Each current person's mean vector: of their confirmed faces if any, else of all their faces."""
    result = {}
    for person in np.unique(faces.persons[faces.persons >= 0]):
        mine = faces.persons == person
        confirmed = mine & faces.fixed
        result[int(person)] = faces.embeddings[confirmed if confirmed.any() else mine].mean(axis=0)
    return result


def _owner(faces: Faces, members: np.ndarray) -> int | None:
    """The person holding most of a cluster's faces (ties: the older id); None if nobody."""
    held = faces.persons[members]
    held = held[held >= 0]
    if not len(held):
        return None
    people, counts = np.unique(held, return_counts=True)
    return int(people[np.argmax(counts)])  # np.unique sorts, so argmax takes the smallest id on ties


def _split_between_confirmed(
    faces: Faces, members: np.ndarray, free: np.ndarray, *, owner: int, means: dict[int, np.ndarray]
) -> np.ndarray:
    """The owner for every free face, unless the cluster holds confirmed faces of several people:
    then each free face goes to the nearest of those people."""
    confirmed = {int(p) for p in faces.persons[members[faces.fixed[members]]] if p >= 0}
    if len(confirmed) < 2:
        return np.full(len(free), owner)
    candidates = sorted(confirmed)
    centres = np.stack([means[p] for p in candidates])
    nearest = np.argmax(faces.embeddings[free] @ centres.T, axis=1)
    return np.asarray(candidates)[nearest]


def _attach_to_named(faces: Faces, noise: np.ndarray, result: np.ndarray, *, named: set[int], distance: float) -> int:
    """Left-over faces whose nearest faces belong to one named person, within ``distance``, join them."""
    references = np.flatnonzero(np.isin(result, sorted(named)))
    if not len(noise) or not len(references):
        return 0
    winners, means = vote(faces.embeddings[noise], faces.embeddings[references], result[references])
    close = (winners != -1) & (means <= distance)
    result[noise[close]] = winners[close]
    return int(close.sum())


def _one_face_per_person_per_photo(faces: Faces, result: np.ndarray) -> None:
    """Leave unassigned every automatic face that shares its photo with a better face of the same person."""
    assigned = np.flatnonzero(result != NO_PERSON)
    order = np.lexsort((result[assigned], faces.photos[assigned]))
    assigned = assigned[order]
    keys = np.stack([faces.photos[assigned], result[assigned]], axis=1)
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    for group in np.split(assigned, starts[1:]):
        if len(group) < 2:
            continue
        if faces.fixed[group].any():
            result[group[~faces.fixed[group]]] = NO_PERSON
            continue
        others = (result == result[group[0]]) & (faces.photos != faces.photos[group[0]])
        if others.any():  # the face most like the person's faces in other photos
            best = group[np.argmax(faces.embeddings[group] @ faces.embeddings[others].mean(axis=0))]
        else:  # nothing to compare with: the larger face
            best = group[np.argmax(faces.sizes[group])]
        result[group[group != best]] = NO_PERSON
