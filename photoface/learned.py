"""What the user's answers teach: per-person scores learned from the catalog's decisions.

The embedding alone places a face by its distance to a person's faces; it cannot tell a
sibling from the person where the two lie as close. Every answer says more: a named person's
faces are theirs, a rejected face is not, and every other named person's faces are not. A
linear score per named person, learned from those (one-vs-rest ridge regression on the 128-d
embeddings: target 1 for the person's faces, 0 for everyone else's and for the faces rejected
for them), finds the directions that separate a person from the people nearest them. Each
person's scores are then shifted and scaled so their own faces average 1 and everyone else's 0,
so one cut (``CUT``) fits a person with 5 faces and one with 500.

A face in the same photo as one of the person's is someone else (one photo shows a person once):
it counts as a negative for them too, taught without a question (siblings in group photos).

Ridge regression shares one Gram matrix between all people, so fitting every named person
costs one 129 x 129 solve for the lot, plus a small update for each person with negatives of
their own (rejected faces weigh ``REJECTED_WEIGHT`` times a face of someone else; photo mates
that no named person holds, ``MATE_WEIGHT``): about a second at 100,000 faces, so the model is
derived on the fly from the catalog's decisions each time the queue is computed, like the
clustering input, and never stored. Deterministic: no sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoface.clustering import Faces, group_sums

# The ridge penalties, per training face, that chosen_ridge compares on each library, strongest
# first. Held out (benchmarks.learned), 0.05 ranks best on people/ and fivecelebs, where a person
# with a handful of faces needs a smooth score; 0.002 on the stand-in family album, where
# siblings are told apart by small differences (docs/people.md).
RIDGES = (0.05, 0.02, 0.01, 0.005, 0.002)
LOO_SAMPLE = 500  # named faces whose left-out scores choose the penalty
REJECTED_WEIGHT = 4.0  # a face the user said is not this person, against one of somebody else
# A face in the same photo as one of the person's (one photo shows a person once): as much a
# negative as a face of somebody else, since nobody said so.
MATE_WEIGHT = 1.0
NOTHING = np.zeros(0, np.int64)
# A candidate is asked about a person (or given to them by clustering) only while their
# calibrated score for it is at least this: 0 is everyone else's faces on average, 1 their own.
# On faces held out, 5 seeded splits each (benchmarks.learned, "cuts"), 0.6 keeps 98.0-100% of
# the "yes" on people/, LFW and fivecelebs and drops 85-91% of the "no": of the questions still
# asked, 3% are "no" on people/ and 37% on LFW (1,680 people, most never named: strangers),
# against 7% and 75% at 0.5; 0.65 would drop 4% of LFW's "yes".
CUT = 0.6


@dataclass(frozen=True)
class PersonScores:
    """Linear scores ``embedding @ weights[:, j] + bias[j]`` for ``people[j]``: on average 1 for
    their own faces and 0 for everyone else's (``_calibrated``)."""

    people: np.ndarray  # (P,) person ids, sorted
    weights: np.ndarray  # (128, P)
    bias: np.ndarray  # (P,)

    def score(self, embeddings: np.ndarray, person: int) -> np.ndarray:
        """The person's score for each embedding (NaN-free; 1.0 for a person with no model, so
        nothing is filtered for them)."""
        column = np.searchsorted(self.people, person)
        if column >= len(self.people) or self.people[column] != person:
            return np.ones(len(embeddings), np.float32)
        return (embeddings @ self.weights[:, column] + self.bias[column]).astype(np.float32)

    def accepts(self, embeddings: np.ndarray, persons: np.ndarray) -> np.ndarray:
        """For each embedding, whether its person's score for it reaches ``CUT``: whether what
        the answers taught lets clustering give it to them (``Decisions.accepts``)."""
        result = np.ones(len(persons), bool)
        for person in np.unique(persons):
            rows = persons == person
            result[rows] = self.score(embeddings[rows], int(person)) >= CUT
        return result


def learn(
    faces: Faces,
    named: frozenset[int],
    rejections: frozenset[tuple[int, int]],
    *,
    stills: np.ndarray | None = None,
    ridge: float | None = None,
    calibrate: bool = True,
) -> PersonScores:
    """Per-person scores from the named people's faces and the rejections (face id, person).

    ``stills``: which faces are in still photos, where the faces beside a person's are someone
    else (default: all; a video's tracks share one photo id). ``ridge``: the penalty (default:
    ``chosen_ridge`` picks it from the library's own named faces). ``calibrate=False`` leaves
    the scores as ridge gives them (measured in ``benchmarks.learned``: with a thousand people
    named they shrink towards 0 and one cut no longer fits)."""
    people = np.array(sorted(named), np.int64)
    held = np.flatnonzero(np.isin(faces.persons, people))
    if len(people) < 2 or not len(held):  # one person alone has nobody to be told apart from
        return PersonScores(people[:0], np.zeros((faces.embeddings.shape[1], 0)), np.zeros(0))
    x = _with_bias(faces.embeddings[held].astype(np.float64))
    # x.T @ targets (target 1 on the face's own person) as class sums, never a faces x people matrix.
    columns = np.searchsorted(people, faces.persons[held])
    sums = group_sums(x, columns, len(people))
    if ridge is None:
        ridge = chosen_ridge(x, sums, columns)
    gram = x.T @ x + ridge * len(held) * _penalty(x.shape[1])
    solution = np.linalg.solve(gram, sums.T)
    inverse = np.linalg.inv(gram)
    for column, (extra, weight) in _negative_rows(faces, people, rejections, stills).items():
        # Rejected faces and photo mates count as negatives (target 0) for this person only: their
        # Gram is the shared one plus a few rows, so the Woodbury identity updates the shared
        # solution (a k x k solve for k rows) instead of solving 129 x 129 again per person.
        r = _with_bias(faces.embeddings[extra].astype(np.float64))
        spread = r @ inverse  # (k, 129)
        inner = np.diag(1.0 / weight) + spread @ r.T
        solution[:, column] -= spread.T @ np.linalg.solve(inner, r @ solution[:, column])
    if calibrate:
        solution = _calibrated(solution, x, sums)
    return PersonScores(people, solution[:-1].astype(np.float32), solution[-1].astype(np.float32))


def chosen_ridge(x: np.ndarray, sums: np.ndarray, columns: np.ndarray) -> float:
    """The ridge penalty of ``RIDGES`` under which the named faces, each left out in turn, find
    their own person first: the strongest penalty within one standard error of the best (the
    one-standard-error rule; equal evidence keeps the smoother model).

    Ridge regression knows each face's leave-one-out prediction in closed form, (prediction -
    h * target) / (1 - h) with h the face's leverage, so this costs one solve per penalty and
    the scores of ``LOO_SAMPLE`` faces, not a refit per face. How strong the penalty should be
    depends on the library: people who look alike (a family) need a weak one to be told
    apart, strangers a strong one against the noise of a few photos each."""
    n, width = x.shape
    sample = np.unique(np.linspace(0, n - 1, min(n, LOO_SAMPLE)).astype(np.int64))
    rows, own = x[sample], columns[sample]
    found = []
    for ridge in RIDGES:
        inverse = np.linalg.inv(x.T @ x + ridge * n * _penalty(width))
        solution = inverse @ sums.T
        leverage = np.einsum("ij,jk,ik->i", rows, inverse, rows)
        predicted = rows @ solution
        predicted[np.arange(len(sample)), own] -= leverage  # the face's own target (1) left out
        predicted /= (1 - leverage)[:, None]
        scale, shift = _calibration(solution, x, sums)
        found.append(float(np.mean(np.argmax(predicted / scale - shift, axis=1) == own)))
    best = max(found)
    error = np.sqrt(best * (1 - best) / len(sample))
    return next(ridge for ridge, right in zip(RIDGES, found, strict=True) if right >= best - error)


def _calibration(solution: np.ndarray, x: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the scale and shift that make their own faces' scores average 1 and everyone
    else's 0 (score / scale - shift): ridge shrinks a person with few faces towards 0, and one
    cut must fit them all."""
    counts = np.maximum(sums[:, -1], 1)  # the bias column of the class sums counts the faces
    own = np.einsum("pd,dp->p", sums, solution) / counts
    others = np.einsum("pd,dp->p", x.sum(axis=0) - sums, solution) / np.maximum(len(x) - counts, 1)
    scale = np.maximum(own - others, 1e-6)
    return scale, others / scale


def _calibrated(solution: np.ndarray, x: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """The solution with ``_calibration`` folded into its weights and bias."""
    scale, shift = _calibration(solution, x, sums)
    solution = solution / scale
    solution[-1] -= shift
    return solution


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def _penalty(width: int) -> np.ndarray:
    """The ridge penalty on the weights, not on the bias."""
    penalty = np.eye(width)
    penalty[-1, -1] = 0.0
    return penalty


def _negative_rows(
    faces: Faces, people: np.ndarray, rejections: frozenset[tuple[int, int]], stills: np.ndarray | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each person column with negatives of their own: the positions of those faces and
    their weights (a rejected face ``REJECTED_WEIGHT``, a photo mate ``MATE_WEIGHT``)."""
    rejected, mates = _rejected_rows(faces, people, rejections), _photo_mates(faces, people, stills)
    found = {}
    for column in sorted(rejected.keys() | mates.keys()):
        own = rejected.get(column, NOTHING)
        other = np.setdiff1d(mates.get(column, NOTHING), own)
        weights = np.r_[np.full(len(own), REJECTED_WEIGHT), np.full(len(other), MATE_WEIGHT)]
        found[column] = (np.r_[own, other].astype(np.int64), weights)
    return found


def _photo_mates(faces: Faces, people: np.ndarray, stills: np.ndarray | None) -> dict[int, np.ndarray]:
    """For each person column: the positions of the faces that share a still photo with one of
    the person's faces and belong to no named person (those are negatives for everyone already).
    One photo shows a person once, so the faces beside theirs are someone else: the sister in
    every group photo with Alice tells the two apart, with no question asked."""
    order = np.argsort(faces.photos, kind="stable")
    if stills is not None:
        order = order[stills[order]]
    photos = faces.photos[order]
    starts = np.flatnonzero(np.r_[True, photos[1:] != photos[:-1]])
    sizes = np.diff(np.r_[starts, len(photos)])
    named = np.isin(faces.persons, people)
    found: dict[int, list[int]] = {}
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
        group = order[start : start + size]
        others = group[~named[group]]
        if not len(others):
            continue
        for person in np.unique(faces.persons[group[named[group]]]):
            found.setdefault(int(np.searchsorted(people, person)), []).extend(others.tolist())
    return {column: np.array(sorted(set(rows)), np.int64) for column, rows in found.items()}


def _rejected_rows(faces: Faces, people: np.ndarray, rejections: frozenset[tuple[int, int]]) -> dict[int, np.ndarray]:
    """For each person column with rejections: the positions of the faces rejected for them
    (a rejected face still on the person, taken back by hand since, is not one)."""
    position = {int(face): i for i, face in enumerate(faces.ids)}
    found: dict[int, list[int]] = {}
    for face, person in sorted(rejections):
        column = int(np.searchsorted(people, person))
        i = position.get(face)
        if i is None or column >= len(people) or people[column] != person or faces.persons[i] == person:
            continue
        found.setdefault(column, []).append(i)
    return {column: np.array(rows) for column, rows in found.items()}
