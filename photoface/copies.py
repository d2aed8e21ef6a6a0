"""Near-copies: the same face twice, from one shot re-saved, resized, cropped or colour-edited
(a WebP export, a messenger's re-encode, a screenshot), a burst, or a collage repeating it.

Such faces are one face seen twice, not two sightings of a person, so density clustering must
see them as one point: a pair of near-identical faces is denser than any real person, and
HDBSCAN would cut a person apart around it, or make a "person" of one face repeated in a
panorama. ``find`` groups the faces whose embeddings are near-identical (squared distance
within ``COPY_DISTANCE``, joined transitively: a copy of a copy is in its original's group);
``NearCopies.fold_*`` gives clustering one point per group, its *leader*, and ``expand`` gives
every member its leader's person. A member the user placed by hand keeps it; a group whose
oldest face is free follows its first fixed member (the user's word on one copy is their word
on the face). Rejections stay per face (applied after ``expand`` by the caller).

Pure functions over arrays, like ``photoface.clustering`` (which imports this module, so it is
used here only for types). Why an embedding rule and not a photo hash, and how
``COPY_DISTANCE`` was measured: docs/people.md, "Near-copies".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from photoface.engine import signature

if TYPE_CHECKING:
    from photoface.clustering import Faces, Neighbours

# Squared distance (unit vectors, 0..4) within which two faces are one face twice.
COPY_DISTANCE = 0.1
# Faces up to this far apart (the embedding of a small face's resized copy drifts as far as
# another photo of the person) are one face twice when their signatures are this alike
# (photoface.engine.signature; measured in docs/people.md, "Near-copies").
LOOK_DISTANCE = 0.6
SIGNATURE_DISTANCE = 0.1
_CHUNK = 65_536  # pairs compared at a time: about 70 MB of float32 cells


@dataclass(frozen=True)
class NearCopies:
    """Groups of near-identical faces over the positions of a ``Faces``."""

    leader: np.ndarray  # (N,) the position each face follows; its own for a leader
    original: np.ndarray  # (N,) the group's oldest face (smallest id); its own when alone

    @property
    def any(self) -> bool:
        return bool((self.leader != np.arange(len(self.leader))).any())

    @property
    def leaders(self) -> np.ndarray:
        """The positions that stay as points, ascending."""
        return np.flatnonzero(self.leader == np.arange(len(self.leader)))

    def copy_of(self) -> np.ndarray:
        """Each face's original (a position), -1 for an original or a face with no copy."""
        return np.where(self.original != np.arange(len(self.original)), self.original, -1)

    def _folded_index(self) -> np.ndarray:
        """Each face's row among the leaders."""
        index = np.full(len(self.leader), -1)
        index[self.leaders] = np.arange(len(self.leaders))
        return index[self.leader]

    def fold_faces(self, faces: Faces) -> Faces:
        """One row per group: its leader's."""
        if not self.any:  # the common case costs nothing
            return faces
        keep = self.leaders
        arrays = {f.name: getattr(faces, f.name) for f in dataclasses.fields(faces) if f.name != "signatures"}
        # The signatures have said which faces are copies; clustering does not read them.
        folded = {k: v[keep] for k, v in arrays.items() if v is not None}
        return dataclasses.replace(faces, **folded, signatures=None)

    def fold_mask(self, mask: np.ndarray) -> np.ndarray:
        """A per-face flag per group: the leader's."""
        return mask[self.leaders] if self.any else mask

    def fold_any(self, mask: np.ndarray) -> np.ndarray:
        """A per-face flag per group: set where any member's is (a decision on a copy is one
        on its group)."""
        if not self.any:
            return mask
        folded = np.zeros(len(self.leaders), bool)
        folded[self._folded_index()[mask]] = True
        return folded

    def fold_rejected(self, rejected: frozenset[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        """The leaders' rejections, at their rows: a group never goes to a person its leader
        was taken from (a member's own rejection is applied to it after ``expand``)."""
        if not self.any:
            return rejected
        row = np.full(len(self.leader), -1)
        row[self.leaders] = np.arange(len(self.leaders))
        return frozenset((int(row[p]), person) for p, person in rejected if row[p] >= 0)

    def fold_graph(self, neighbours: Neighbours) -> Neighbours:
        """The neighbour graph among the leaders.

        A group's row gathers its members' rows (a copy's neighbours fill the places its
        original's row gave to other copies); each other group appears once, at the distance
        between leaders where the graph has it (what clustering without the copies would see),
        else the nearest member's; the own group is left out.
        """
        if not self.any:
            return neighbours
        group = self._folded_index()
        count, k = len(self.leaders), neighbours.positions.shape[1]
        present = neighbours.positions >= 0
        target = np.where(present, group[np.maximum(neighbours.positions, 0)], -1)
        source = np.broadcast_to(group[:, None], target.shape)
        is_leader = self.leader == np.arange(len(self.leader))
        # 0: leader to leader, as the graph without copies has it; 1-2: through a copy.
        detour = (~is_leader)[:, None].astype(np.int8) + ~is_leader[np.maximum(neighbours.positions, 0)]
        keep = present & (target != source)
        rows, cols, squared, detour = source[keep], target[keep], neighbours.squared[keep], detour[keep]
        order = np.lexsort((squared, detour, cols, rows))
        rows, cols, squared = rows[order], cols[order], squared[order]
        first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
        rows, cols, squared = rows[first], cols[first], squared[first]
        order = np.lexsort((cols, squared, rows))
        rows, cols, squared = rows[order], cols[order], squared[order]
        starts = np.searchsorted(rows, np.arange(count))
        rank = np.arange(len(rows)) - starts[rows]
        fits = rank < k
        folded = type(neighbours).empty(count, k)
        folded.positions[rows[fits], rank[fits]] = cols[fits]
        folded.squared[rows[fits], rank[fits]] = squared[fits]
        return folded

    def expand(self, folded_persons: np.ndarray, faces: Faces) -> np.ndarray:
        """Every face its group's person; a fixed face keeps its own."""
        if not self.any:
            return folded_persons.copy()
        persons = folded_persons[self._folded_index()]
        return np.where(faces.fixed, faces.persons, persons)


def find(faces: Faces, neighbours: Neighbours, eligible: np.ndarray, distance: float | None = None) -> NearCopies:
    """The groups of near-identical faces among the ``eligible`` ones (those clustering looks
    at), joined through the graph's edges: within ``distance`` (``COPY_DISTANCE``, read when
    called so a benchmark can vary it), or within ``LOOK_DISTANCE`` where the faces' signatures
    say they are one shot (``SIGNATURE_DISTANCE``)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    distance = COPY_DISTANCE if distance is None else distance
    n = len(faces.ids)
    positions = neighbours.positions
    edges = (positions >= 0) & eligible[:, None] & eligible[np.maximum(positions, 0)]
    close = edges & (neighbours.squared <= distance)
    rows, cols = _edge_list(close, positions)
    looked_rows, looked_cols = _same_shot(faces, neighbours, edges & ~close)
    rows, cols = np.r_[rows, looked_rows], np.r_[cols, looked_cols]
    if not len(rows):
        own = np.arange(n)
        return NearCopies(own, own.copy())
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return _with_leaders(component, faces.fixed)


def _same_shot(faces: Faces, neighbours: Neighbours, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``edges`` (a mask over the graph) within ``LOOK_DISTANCE`` whose two faces'
    signatures say they are one shot, as (rows, cols) positions."""
    if faces.signatures is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    known = faces.signatures.any(axis=1)
    positions = np.maximum(neighbours.positions, 0)
    edges = edges & (neighbours.squared <= LOOK_DISTANCE) & known[:, None] & known[positions]
    rows, cols = _edge_list(edges, positions)
    # Each pair once: a face is usually among its neighbour's neighbours too.
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    pairs = np.unique(low * len(faces.ids) + high)
    rows, cols = pairs // len(faces.ids), pairs % len(faces.ids)
    same = np.zeros(len(rows), bool)
    for start in range(0, len(rows), _CHUNK):  # a chunk of pairs at a time
        part = slice(start, start + _CHUNK)
        same[part] = signature.distances(faces.signatures[rows[part]], faces.signatures[cols[part]]) <= (
            SIGNATURE_DISTANCE
        )
    return rows[same], cols[same]


def _edge_list(mask: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The graph's edges that ``mask`` selects, as (rows, cols) positions."""
    rows, places = np.nonzero(mask)
    return rows, positions[rows, places]


def _with_leaders(component: np.ndarray, fixed: np.ndarray) -> NearCopies:
    """Each group's original is its first position (faces are sorted by id: the oldest); its
    leader is the original, or its first fixed member when the original is free."""
    n = len(component)
    order = np.argsort(component, kind="stable")
    first = np.r_[True, component[order][1:] != component[order][:-1]]
    original_of = np.empty(n, np.int64)
    original_of[component[order[first]]] = order[first]
    original = original_of[component]
    fixed_order = order[fixed[order]]
    first_fixed = np.full(n, -1)
    firsts = np.r_[True, component[fixed_order][1:] != component[fixed_order][:-1]] if len(fixed_order) else []
    first_fixed[component[fixed_order[firsts]]] = fixed_order[firsts]
    chosen = first_fixed[component]
    leader = np.where(fixed[original] | (chosen < 0), original, chosen)
    return NearCopies(leader, original)


def with_copies(faces: Faces, copy_of: np.ndarray, face_ids: set[int]) -> set[int]:
    """The ids of ``face_ids`` and every face in the same near-copy group as one of them (by
    ``copy_of``, as the last ``cluster`` stored it): what is said of one shot is said of its
    re-saved and resized copies."""
    if not face_ids:
        return set()
    leader = group_leaders(faces, copy_of)
    chosen = np.isin(faces.ids, sorted(face_ids))
    return {int(f) for f in faces.ids[np.isin(leader, leader[chosen])]} | face_ids


def group_leaders(faces: Faces, copy_of: np.ndarray) -> np.ndarray:
    """Each face's near-copy group, as the id of the face the group's copies point at (``copy_of``
    as the last ``cluster`` stored it; a face in no group leads its own)."""
    return np.where(copy_of >= 0, copy_of, faces.ids)
