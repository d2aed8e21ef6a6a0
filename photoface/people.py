"""People: clustering faces into people, and the user's edits on them.

Every edit is a manual decision that clustering respects (see ``photoface.clustering``).
Naming a person confirms the faces it holds: the user saw them (``photoface show``) and
said who they are, so re-clustering never takes them away.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photoface import copies, learned
from photoface.catalog import Catalog, ClusterInput
from photoface.clustering import (
    NO_PERSON,
    ClusterSettings,
    Decisions,
    Faces,
    K,
    Neighbours,
    Plan,
    before_birth,
    group_sums,
    near_in_time,
    plan,
    plan_new,
    squared_distances,
    vote,
)
from photoface.errors import PhotofaceError
from photoface.index import NO_FACE, FaceIndex

if TYPE_CHECKING:  # the engine (onnxruntime) loads only for identify and find --like
    from photoface.engine import FaceEngine


class PersonNotFound(PhotofaceError):  # noqa: N818 - reads as the sentence it is
    """No person with that id or name."""


class StaleFaces(PhotofaceError):  # noqa: N818
    """Faces are no longer where the caller saw them (a re-cluster or another window moved them)."""


class NameInUse(PhotofaceError):  # noqa: N818
    """The name belongs to another person (who could be merged)."""

    def __init__(self, name: str, owner: int) -> None:
        self.name, self.owner = name, owner
        super().__init__(
            f"the name {name!r} belongs to person {owner}: merge them with "
            f"'photoface merge {owner} ...', or choose another name"
        )


@dataclass(frozen=True)
class ClusterReport:
    people: int  # people holding faces after clustering
    new_people: int
    clusters: int  # clusters found (among the new faces only, in an incremental run)
    assigned: int  # faces with a person
    unassigned: int
    changed: int  # faces whose person changed in this run
    attached: int  # faces joined to a person by their nearest faces
    too_small: int  # faces below the quality size, not clustered
    mode: str  # "full", "incremental" or "up to date"
    new_faces: int  # faces no clustering had seen before this run
    seconds: float


# An incremental run places the new faces only; with more new faces than this share of the
# library (a first scan, a big import) everything is clustered again.
INCREMENTAL_SHARE = 0.2


def _person_or_none(person: np.integer) -> int | None:
    return int(person) if person != NO_PERSON else None


def cluster(catalog: Catalog, settings: ClusterSettings | None = None, *, full: bool = False) -> ClusterReport:
    """Cluster the faces and store the assignments in one transaction.

    By default only the faces added since the last run are placed (``plan_new``); ``full``
    clusters every face again (``plan``). Either way every manual decision is kept.
    """
    started = time.perf_counter()
    settings = settings or ClusterSettings()
    data = catalog.cluster_input(signatures=True)
    faces = Faces(**data.arrays)
    new_count = int(data.new.sum())
    mode = "full" if full or new_count > INCREMENTAL_SHARE * len(faces.ids) else "incremental"
    if mode == "incremental" and not new_count and not data.decided.any():
        mode = "up to date"
    if mode == "up to date":
        outcome = Plan(faces.persons.copy(), 0, 0)
    else:
        index, decisions = FaceIndex.open(catalog), _decisions(data, faces)
        if mode == "full":
            outcome = plan(faces, face_graph(index, faces), decisions, settings)
        else:
            rows = _graph_around_new(index, faces, data.new | data.decided)
            outcome = plan_new(faces, rows, data.new, decisions, settings, decided=data.decided)
    persons = outcome.persons.copy()
    with catalog.transaction():
        # New people are -2, -3, ... (new_person(k)), numbered in the order clusters were found.
        placeholders = persons < NO_PERSON
        created = np.array([catalog.create_person() for _ in range(-1 - int(persons.min(initial=NO_PERSON)))])
        persons[placeholders] = created[-2 - persons[placeholders]]
        free = ~faces.fixed
        changed = free & (persons != faces.persons)
        made = catalog.set_auto_assignments(
            [
                (int(face), _person_or_none(was), _person_or_none(person))
                for face, was, person in zip(faces.ids[changed], faces.persons[changed], persons[changed], strict=True)
            ]
        )
        catalog.delete_empty_unnamed_people()
        catalog.set_copies(_copies_found(faces, data, outcome, mode))
        catalog.mark_clustered(faces.ids[data.new | data.decided].tolist())
    assigned = int((persons != NO_PERSON).sum())
    return ClusterReport(
        people=len(np.unique(persons[persons != NO_PERSON])),
        new_people=len(created),
        clusters=outcome.clusters,
        assigned=assigned,
        unassigned=len(persons) - assigned,
        changed=made,
        attached=outcome.noise_attached,
        too_small=int(((faces.sizes < settings.min_face_size) & free).sum()),
        mode=mode,
        new_faces=new_count,
        seconds=round(time.perf_counter() - started, 3),
    )


def _copies_found(faces: Faces, data: ClusterInput, outcome: Plan, mode: str) -> list[tuple[int, int | None]]:
    """(face id, original face id or None) where what clustering found differs from what is
    stored. A full run saw every face; an incremental one only the new faces' neighbourhood, so
    it records the groups it found and the new faces, and leaves other faces as they were."""
    if outcome.copy_of is None:
        return []
    found = np.where(outcome.copy_of >= 0, faces.ids[np.maximum(outcome.copy_of, 0)], -1)
    seen = np.ones(len(found), bool) if mode == "full" else data.new | (found >= 0)
    changed = np.flatnonzero(seen & (found != data.copy_of))
    return [(int(faces.ids[i]), int(found[i]) if found[i] >= 0 else None) for i in changed]


def _decisions(data: ClusterInput, faces: Faces) -> Decisions:
    position = {int(face): i for i, face in enumerate(faces.ids)}
    rejected = frozenset((position[face], person) for face, person in data.rejections if face in position)
    taught = learned.learn(faces, data.named, data.rejections, stills=data.stills)
    return Decisions(named=data.named, ignored=data.ignored, rejected=rejected, born=data.born, accepts=taught.accepts)


def face_graph(
    index: FaceIndex, faces: Faces, rows: np.ndarray | None = None, *, into: Neighbours | None = None
) -> Neighbours:
    """Each face's ``K`` nearest other faces among ``faces``, from the index; only the faces at
    ``rows`` get their neighbours (the others' rows stay empty) when given, filled into the
    rows of ``into`` when given."""
    chunk = 20_000
    n = len(faces.ids)
    graph = into or Neighbours.empty(n, K)
    positions, squared = graph.positions, graph.squared
    targets = np.arange(n) if rows is None else np.asarray(rows)
    for start in range(0, len(targets), chunk):
        part = targets[start : start + chunk]
        keys, distances = index.search(faces.embeddings[part], K + 1)
        found = np.searchsorted(faces.ids, keys)
        known = (keys != NO_FACE) & (found < n)
        known &= faces.ids[np.minimum(found, n - 1)] == keys
        known &= found != part[:, None]  # not the face itself
        order = np.argsort(~known, axis=1, kind="stable")[:, :K]
        keep = np.take_along_axis(known, order, 1)
        width = order.shape[1]
        positions[part, :width] = np.where(keep, np.take_along_axis(found, order, 1), -1)
        squared[part, :width] = np.where(keep, np.take_along_axis(distances, order, 1), np.inf)
    return graph


def _graph_around_new(index: FaceIndex, faces: Faces, new: np.ndarray) -> Neighbours:
    """Graph rows for the new faces, and for the unassigned faces among their neighbours (which
    may form new people with them)."""
    rows = np.flatnonzero(new)
    graph = face_graph(index, faces, rows)
    near = graph.positions[rows]
    near = np.unique(near[near >= 0])
    around = near[(faces.persons[near] == NO_PERSON) & ~new[near]]
    return face_graph(index, faces, around, into=graph) if len(around) else graph


def resolve(catalog: Catalog, ref: str | int) -> dict:
    """A person by id ("12") or name (any case); unknown names get close-match suggestions."""
    text = str(ref).strip()
    person = catalog.person(int(text)) if text.isdigit() else catalog.person_by_name(text)
    if person is not None:
        return person
    if text.isdigit():
        raise PersonNotFound(f"no person {text}: 'photoface people' lists them")
    close = difflib.get_close_matches(text, catalog.names(), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "'photoface people' lists the names"
    raise PersonNotFound(f"no person named {text!r}: {hint}")


def name_person(catalog: Catalog, ref: str | int, name: str, *, merge: bool = False) -> int:
    """Give a person a name and confirm its faces. A name in use raises ``NameInUse`` unless
    ``merge``: then this person is merged into the one holding the name. Returns the person id."""
    name = _clean_name(name)
    with catalog.transaction():
        person = resolve(catalog, ref)
        owner = catalog.person_by_name(name)
        if owner is not None and owner["id"] != person["id"]:
            if not merge:
                raise NameInUse(owner["name"], owner["id"])
            _merge_into(catalog, owner["id"], [person["id"]])
            return owner["id"]
        catalog.update_person(person["id"], {"name": name})
        catalog.confirm_person(person["id"])
        return person["id"]


def rename(catalog: Catalog, ref: str | int, name: str) -> int:
    name = _clean_name(name)
    with catalog.transaction():
        person = resolve(catalog, ref)
        owner = catalog.person_by_name(name)
        if owner is not None and owner["id"] != person["id"]:
            raise NameInUse(owner["name"], owner["id"])
        catalog.update_person(person["id"], {"name": name})
        return person["id"]


def unname(catalog: Catalog, ref: str | int) -> int:
    with catalog.transaction():
        person = resolve(catalog, ref)
        catalog.update_person(person["id"], {"name": None})
        return person["id"]


def merge(catalog: Catalog, target_ref: str | int, source_refs: Sequence[str | int]) -> int:
    """Move every face of the sources to the target (as manual decisions) and drop the sources."""
    with catalog.transaction():
        target = resolve(catalog, target_ref)
        sources = [resolve(catalog, ref) for ref in source_refs]
        sources = [s for s in sources if s["id"] != target["id"]]
        if not sources:
            raise PhotofaceError(f"nothing to merge into person {target['id']}: name at least one other person")
        names = {s["name"] for s in sources if s["name"]}
        if target["name"] is None and len(names) > 1:
            raise PhotofaceError(
                f"the people to merge have several names ({', '.join(sorted(names))}): "
                "merge into the one whose name you want to keep"
            )
        _merge_into(catalog, target["id"], [s["id"] for s in sources])
        if target["name"] is None and names:
            catalog.update_person(target["id"], {"name": names.pop()})
        return target["id"]


def _merge_into(catalog: Catalog, target: int, sources: list[int]) -> None:
    for source in sources:
        faces = [face["id"] for face in catalog.faces(person=source)]
        catalog.assign_faces(faces, target, confirmed=None)  # one person: what was confirmed stays
        catalog.delete_person(source)
    catalog.confirm_person(target)


def move_faces(catalog: Catalog, face_ids: Sequence[int], target: str, *, create: bool = False) -> int:
    """Put faces on another person (``"new"``: a new unnamed person; with ``create``, a name
    nobody has yet makes a new person of that name). Returns that person.

    The people they are taken from never get them back automatically."""
    with catalog.transaction():
        faces = _face_rows(catalog, face_ids)
        person = _target_person(catalog, target, create=create)
        _never_given_back(catalog, faces, to=person)
        ids = [face["id"] for face in faces]
        catalog.forget_rejections(ids, person)  # moving them here is the user's word
        catalog.assign_faces(ids, person, confirmed=True)
        catalog.delete_empty_unnamed_people()
        return person


def _target_person(catalog: Catalog, target: str, *, create: bool) -> int:
    text = target.strip()
    if text.lower() == "new":
        return catalog.create_person()
    if create and (name := new_name(catalog, text)) is not None:
        return catalog.create_person(name)
    return resolve(catalog, text)["id"]


def new_name(catalog: Catalog, target: str) -> str | None:
    """The name of the person ``move_faces(..., target, create=True)`` would create: ``target``
    cleaned when it is a name nobody has; None for ids, "new" and names in use."""
    text = target.strip()
    if text.isdigit() or text.lower() == "new":
        return None
    name = _clean_name(text)
    return name if catalog.person_by_name(name) is None else None


def require_owner(catalog: Catalog, face_ids: Sequence[int], person: int | None) -> None:
    """Raise ``StaleFaces`` unless every face still belongs to ``person`` (None: nobody): a page
    shown before a re-cluster must not act on faces that moved since."""
    for face in _face_rows(catalog, face_ids):
        if face["person_id"] != person:
            raise StaleFaces(
                f"face {face['id']} is now {_whose(face['person_id'])}, not {_whose(person)} (the catalog changed "
                "since this page was shown): reload the page; nothing was changed"
            )


def _whose(person: int | None) -> str:
    return f"person {person}'s" if person is not None else "nobody's"


def _never_given_back(catalog: Catalog, faces: list[dict], to: int | None = None) -> None:
    """Faces taken from their people (going ``to`` another, or to nobody): clustering never
    gives them back."""
    for face in faces:
        if face["person_id"] is not None and face["person_id"] != to:
            catalog.reject([face["id"]], face["person_id"])


def unassign(catalog: Catalog, face_ids: Sequence[int]) -> list[int]:
    """Take faces from their people: they stay nobody's until clustering places them, never
    with the person they were taken from. Returns the people they left."""
    with catalog.transaction():
        faces = _face_rows(catalog, face_ids)
        _never_given_back(catalog, faces)
        catalog.unassign_faces([face["id"] for face in faces])
        catalog.delete_empty_unnamed_people()
        return sorted({face["person_id"] for face in faces if face["person_id"] is not None})


def split(catalog: Catalog, ref: str | int, face_ids: Sequence[int]) -> int:
    """Make a new person of some of a person's faces (a look-alike merged in). Returns the new
    person; clustering never puts those faces back with the old one."""
    with catalog.transaction():
        person = resolve(catalog, ref)
        faces = _face_rows(catalog, face_ids)
        strangers = [face for face in faces if face["person_id"] != person["id"]]
        if strangers:
            face = strangers[0]
            raise PhotofaceError(
                f"face {face['id']} is {_whose(face['person_id'])}, not person {person['id']}'s: "
                "split takes faces of one person"
            )
        new_person = catalog.create_person()
        catalog.reject([face["id"] for face in faces], person["id"])
        catalog.assign_faces([face["id"] for face in faces], new_person, confirmed=False)  # someone else, not yet who
        return new_person


def confirm(catalog: Catalog, face_ids: Sequence[int], ref: str | int) -> int:
    """Yes, these faces are this person: assigned for good. Returns the person."""
    with catalog.transaction():
        person = resolve(catalog, ref)
        faces = _face_rows(catalog, face_ids)
        rejected = catalog.rejected([face["id"] for face in faces], person["id"])
        if rejected:
            raise PhotofaceError(
                f"face {rejected[0]} was rejected for person {person['id']}: to change your mind, "
                f"'photoface move {rejected[0]} {person['id']}'"
            )
        catalog.assign_faces([face["id"] for face in faces], person["id"], confirmed=True)
        catalog.delete_empty_unnamed_people()
        return person["id"]


def reject(catalog: Catalog, face_ids: Sequence[int], ref: str | int) -> int:
    """No, these faces are not this person: taken from them if theirs, and never given to them
    automatically. Returns the person."""
    with catalog.transaction():
        person = resolve(catalog, ref)
        faces = _face_rows(catalog, face_ids)
        said = [face for face in faces if face["person_id"] == person["id"] and face["confirmed"]]
        if said:
            face, who = said[0]["id"], person["name"] or f"person {person['id']}"
            raise PhotofaceError(
                f"face {face} was confirmed as {who}: nothing changed. To change your mind, "
                f"'photoface move {face} NAME' or 'photoface unassign {face}'"
            )
        catalog.reject([face["id"] for face in faces], person["id"])
        catalog.unassign_faces([face["id"] for face in faces if face["person_id"] == person["id"]])
        catalog.delete_empty_unnamed_people()
        return person["id"]


def _face_rows(catalog: Catalog, face_ids: Sequence[int]) -> list[dict]:
    """The catalog rows of these faces; an unknown id is an error naming it."""
    if not face_ids:
        raise PhotofaceError("name at least one face id ('photoface faces' lists them)")
    ids = sorted(set(face_ids))
    rows = catalog.face_rows(ids)
    missing = sorted(set(ids) - {row["id"] for row in rows})
    if missing:
        raise PhotofaceError(f"no face {missing[0]}: 'photoface faces' lists them")
    return rows


def reject_merge(catalog: Catalog, ref: str | int, other_ref: str | int) -> tuple[int, int]:
    """No, these two people are not one: the faces of the first (of the unnamed one, when only
    the other has a name) are rejected for the other, so clustering never joins them and the
    pair is never suggested again. Returns (the person whose faces were rejected, the other)."""
    with catalog.transaction():
        person, other = resolve(catalog, ref), resolve(catalog, other_ref)
        if person["id"] == other["id"]:
            raise PhotofaceError(f"person {person['id']} twice: name two different people")
        if person["name"] and not other["name"]:
            person, other = other, person
        catalog.reject([face["id"] for face in catalog.faces(person=person["id"])], other["id"])
        return person["id"], other["id"]


def ignore(catalog: Catalog, ref: str | int) -> int:
    """A stranger: their faces stay theirs and are kept out of automatic assignment."""
    with catalog.transaction():
        person = resolve(catalog, ref)
        catalog.update_person(person["id"], {"ignored": 1})
        catalog.confirm_person(person["id"])
        return person["id"]


def set_birth_date(
    catalog: Catalog, ref: str | int, born: str | None, *, today: date | None = None
) -> tuple[int, list[int]]:
    """Give a person a birth date ("YYYY-MM-DD"; None: remove it). Their automatic faces in
    photos taken before it are taken from them (clustering never gives them back while the
    date stands). Returns the person and those faces. A date in the future, or after a photo with a confirmed
    face of theirs, is refused with the photo named, nothing changed."""
    day = None if born is None else _birth_date(born, today or date.today()).isoformat()
    with catalog.transaction():
        person = resolve(catalog, ref)
        if day is None:
            catalog.update_person(person["id"], {"born": None})
            return person["id"], []
        confirmed = catalog.photos_before(person["id"], day, assigned="manual")
        if confirmed:
            face = confirmed[0]
            raise PhotofaceError(
                f"{_label(person)} is confirmed in {face['path']} (face {face['id']}), taken "
                f"{face['taken_at'][:10]}, before {day}: check the date, or move that face first; nothing changed"
            )
        taken = [face["id"] for face in catalog.photos_before(person["id"], day, assigned="auto")]
        catalog.update_person(person["id"], {"born": day})
        catalog.unassign_faces(taken)
        return person["id"], taken


def _birth_date(text: str, today: date) -> date:
    """A birth date written YYYY-MM-DD, not after ``today``."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PhotofaceError(f"{text!r} is not a date: give the birth date as YYYY-MM-DD, e.g. 2019-03-02") from None
    if day > today:
        raise PhotofaceError(f"the birth date {day} is in the future (today is {today}): nothing changed")
    return day


def _label(person: dict) -> str:
    return person["name"] or f"person {person['id']}"


def age(born: str | None, taken_at: str | None) -> int | None:
    """Whole years between a birth date and a photo's date (both ISO text); None when either
    is missing or unreadable, or the photo is older than the person."""
    try:
        birth, taken = date.fromisoformat(born or ""), date.fromisoformat((taken_at or "")[:10])
    except ValueError:
        return None
    years = taken.year - birth.year - ((taken.month, taken.day) < (birth.month, birth.day))
    return years if years >= 0 else None


def find_photos(catalog: Catalog, names: Sequence[str], *, any_of: bool = False) -> list[str]:
    people = [resolve(catalog, name)["id"] for name in names]
    return catalog.photos_of(people, every=not any_of)


def find_appearances(catalog: Catalog, names: Sequence[str], *, any_of: bool = False) -> list[dict]:
    """``find_photos`` with each file's kind and these people's faces in it (a video's with times)."""
    people = [resolve(catalog, name)["id"] for name in names]
    return catalog.appearances(people, every=not any_of)


def match_people(
    catalog: Catalog, embeddings: np.ndarray, *, named_only: bool, distance: float = ClusterSettings.distance
) -> list[tuple[dict | None, float]]:
    """For each embedding: the person its nearest catalogued faces belong to (None when they
    disagree or are farther than ``distance``) and the mean squared distance to them.

    The nearest faces come from the face index; only faces of people (named ones with
    ``named_only``, never ignored ones) vote.
    """
    embeddings = np.asarray(embeddings, np.float32).reshape(-1, 128)
    if not len(embeddings):
        return []
    keys, squared = FaceIndex.open(catalog).search(embeddings, 4 * K)
    owners = catalog.face_people([int(k) for k in np.unique(keys) if k != NO_FACE])
    people = np.array([owners.get(int(k), (NO_PERSON, False, False))[0] for k in keys.ravel()]).reshape(keys.shape)
    allowed = np.array(
        [
            k in owners and owners[k][0] != NO_PERSON and not owners[k][2] and (owners[k][1] or not named_only)
            for k in map(int, keys.ravel())
        ]
    ).reshape(keys.shape)
    columns = np.arange(keys.size).reshape(keys.shape)  # vote() reads labels and allowed by position
    winners, means = vote(columns, squared, people.ravel(), allowed.ravel())
    return [
        (catalog.person(int(w)) if w != -1 and m <= distance else None, float(m))
        for w, m in zip(winners, means, strict=True)
    ]


@dataclass(frozen=True)
class FaceSuggestion:
    """Is this face that person? The review queue's question, with how likely it is."""

    face: int
    person: int
    name: str | None
    score: float  # 0..1: the cosine similarity to the person's two nearest faces, clipped
    distance: float  # mean squared distance to those faces
    photo: str
    current: int | None  # the person the face has now (automatically), if any
    learned: float = 1.0  # the person's learned score for the face (photoface.learned): ~1 theirs, ~0 not
    # The next likeliest person, when the queue would ask about the face for them too (a sibling,
    # a look-alike): one question, "is this Alice, or Beth?", instead of two.
    alternative: int | None = None
    alternative_name: str | None = None
    alternative_learned: float | None = None
    # The face's near-copies the queue would ask about too (the same shot re-saved): one answer
    # settles them all.
    copies: tuple[int, ...] = ()


@dataclass(frozen=True)
class MergeSuggestion:
    """Are these two people one? At least one of them has no name."""

    person: int
    name: str | None
    other: int
    other_name: str | None
    score: float  # 0..1: the cosine similarity of their mean faces, clipped
    distance: float  # mean squared distance from each face of ``person`` to the nearest of ``other``
    faces: int  # faces of ``person``


MAX_NAME = 200  # characters
SUGGESTION_SEARCH = 1000  # a person's faces (largest first) whose neighbours are candidates
# Seen from the other side, an unassigned face is a candidate for the people whose mean faces are
# among its REVERSE_NEAREST nearest, each person taking twice as many such faces (the nearest) as
# the suggestions asked for.
REVERSE_NEAREST = 3


@dataclass(frozen=True)
class Queue:
    """The review queue's first questions, and how many it holds in all ("about 40 questions
    left": each answer can settle others, so it is an estimate)."""

    faces: list[FaceSuggestion]
    merges: list[MergeSuggestion]
    left: int  # face and merge questions in the whole queue, not only those returned


def suggest(
    catalog: Catalog, ref: str | int | None = None, *, limit: int = 20, distance: float = ClusterSettings.distance
) -> tuple[list[FaceSuggestion], list[MergeSuggestion]]:
    """``review_queue``'s faces and merges."""
    queue = review_queue(catalog, ref, limit=limit, distance=distance)
    return queue.faces, queue.merges


def review_queue(
    catalog: Catalog, ref: str | int | None = None, *, limit: int = 20, distance: float = ClusterSettings.distance
) -> Queue:
    """The review queue: faces most likely to be a named person (or ``ref``) but not yet theirs,
    nearest first, and pairs of people likely to be one (at least one unnamed; with ``ref``, the
    pairs holding them; each pair once, whichever way round).

    Candidates are the neighbours of the person's faces and, seen from the other side, the
    unassigned faces near the person's mean face (``_open_faces_near``). A face rejected for a
    person, a face the user placed by hand, and faces too small to cluster are never suggested;
    each face is suggested for its likeliest person only (the highest learned score), and only
    while that score (``photoface.learned``: what the names and answers so far teach) reaches
    ``learned.CUT``; what is said of a face (a rejection) is said of its near-copies too.
    """
    data = catalog.cluster_input()
    faces = Faces(**data.arrays)
    people = [resolve(catalog, ref)["id"]] if ref is not None else sorted(data.named)
    index = FaceIndex.open(catalog)
    near_them = _open_faces_near(faces, sorted((data.named | set(people)) - data.ignored), each=2 * limit)
    # One graph for everyone: each person's rows are their own faces, filled once.
    graph = Neighbours.empty(len(faces.ids), K)
    rejected: dict[int, set[int]] = {}
    for face, person in data.rejections:
        rejected.setdefault(person, set()).add(face)
    scores = learned.learn(faces, data.named, data.rejections, stills=data.stills)
    best: dict[int, tuple[float, int, float]] = {}
    runner_up: dict[int, tuple[int, float]] = {}
    for person in people:
        found = _candidates(
            index,
            graph,
            faces,
            person,
            also=near_them.get(person, NO_POSITIONS),
            rejected=copies.with_copies(faces, data.copy_of, rejected.get(person, set())),
            distance=distance,
            born=data.born.get(person),
            stills=data.stills,
        )
        for (position, mean), score in zip(found, _learned_scores(scores, faces, found, person), strict=True):
            # Its likeliest person is the one what the user taught scores highest (two
            # siblings can lie at one distance; the answers tell them apart); the next one
            # is asked in the same question.
            if score < learned.CUT:
                continue
            if position not in best or score > best[position][2]:
                if position in best:
                    runner_up[position] = best[position][1:]
                best[position] = (mean, person, score)
            elif position not in runner_up or score > runner_up[position][1]:
                runner_up[position] = (person, score)
    ranked, copies_of = _one_per_copy_group(sorted(best.items(), key=lambda item: (item[1][0], item[0])), faces, data)
    face_suggestions = [
        _face_suggestion(
            catalog,
            faces,
            position,
            (person, mean, score),
            runner_up=runner_up.get(position),
            copies=copies_of.get(position, ()),
        )
        for position, (mean, person, score) in ranked[:limit]
    ]
    only = people[0] if ref is not None else None
    merges, pairs = _merge_suggestions(catalog, faces, data, distance, limit=limit, only=only)
    return Queue(face_suggestions, merges, left=len(ranked) + pairs)


NO_POSITIONS = np.zeros(0, np.int64)


def _one_per_copy_group(
    ranked: list[tuple[int, tuple[float, int, float]]], faces: Faces, data: ClusterInput
) -> tuple[list[tuple[int, tuple[float, int, float]]], dict[int, tuple[int, ...]]]:
    """The candidates with one per near-copy group (the first in ``ranked``, the nearest its
    person), and for each kept one the ids of the others of its group that were candidates."""
    leader = copies.group_leaders(faces, data.copy_of)
    kept, others = [], {}
    first: dict[int, int] = {}
    for position, entry in ranked:
        group = int(leader[position])
        if group in first:
            others.setdefault(first[group], []).append(int(faces.ids[position]))
            continue
        first[group] = position
        kept.append((position, entry))
    return kept, {position: tuple(sorted(ids)) for position, ids in others.items()}


def _open_faces_near(faces: Faces, people: list[int], *, each: int) -> dict[int, np.ndarray]:
    """Unassigned faces (not placed by hand, big enough to cluster) seen from their side: for
    each of ``people``, the positions of the faces that have that person's mean face among their
    ``REVERSE_NEAREST`` nearest, nearest first (at most ``each``). A person's own
    faces fill their neighbour lists, so a face near only them may be in none of those lists."""
    open_faces = np.flatnonzero(
        (faces.persons == NO_PERSON) & ~faces.fixed & (faces.sizes >= ClusterSettings.min_face_size)
    )
    held = np.flatnonzero(np.isin(faces.persons, people))
    if not len(open_faces) or not len(held):
        return {}
    owners, _members, centres = _mean_faces(faces, held)
    top = min(REVERSE_NEAREST, len(owners))
    columns, alike = [], []
    for start in range(0, len(open_faces), 8192):
        similar = faces.embeddings[open_faces[start : start + 8192]] @ centres.T
        nearest = np.argpartition(-similar, top - 1, axis=1)[:, :top]
        columns.append(nearest)
        alike.append(np.take_along_axis(similar, nearest, 1))
    column, similarity = np.concatenate(columns).ravel(), np.concatenate(alike).ravel()
    rows = np.repeat(open_faces, top)
    order = np.lexsort((-similarity, column))
    starts = np.searchsorted(column[order], np.arange(len(owners) + 1))
    return {
        int(owners[c]): rows[order[starts[c] : starts[c + 1]][:each]]
        for c in range(len(owners))
        if starts[c + 1] > starts[c]
    }


def _mean_faces(faces: Faces, held: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The people holding the faces at ``held``, each one's face positions, and their mean
    faces (unit length), in the order of the people's ids."""
    owners, inverse = np.unique(faces.persons[held], return_inverse=True)
    centres = group_sums(faces.embeddings[held], inverse, len(owners)).astype(np.float32)
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-9)
    members = np.split(held[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
    return owners, members, centres


def _candidates(
    index: FaceIndex,
    graph: Neighbours,
    faces: Faces,
    person: int,
    *,
    also: np.ndarray,
    rejected: set[int],
    distance: float,
    born: float | None = None,
    stills: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(position, mean squared distance to the person's two nearest faces) of likely faces: the
    neighbours of the person's faces and the faces at ``also``; ``rejected``: faces rejected for
    the person; ``born``: their birth date (Julian day), before which no face is theirs; a face
    in a still photo with one confirmed as theirs (``stills``) is never theirs. Where
    dates are known, the two nearest are taken among the person's faces photographed around
    the face's time, when there are two (``_timely``)."""
    mine = np.flatnonzero(faces.persons == person)
    if len(mine) < 1:
        return []
    searched = mine[np.argsort(-faces.sizes[mine], kind="stable")[:SUGGESTION_SEARCH]]
    confirmed = mine[faces.fixed[mine] & (True if stills is None else stills[mine])]
    near = np.unique(np.concatenate([face_graph(index, faces, searched, into=graph).positions[searched].ravel(), also]))
    near = near[
        (near >= 0)
        & (faces.persons[near] != person)
        & ~faces.fixed[near]
        & (faces.sizes[near] >= ClusterSettings.min_face_size)
        & ~np.isin(faces.ids[near], sorted(rejected))
        # One photo shows a person once: beside a face confirmed as theirs, every face is someone
        # else (a video's tracks share its photo id: one person can leave the frame and come back).
        & ~np.isin(faces.photos[near], faces.photos[confirmed])
    ]
    if born is not None and faces.days is not None:
        near = near[~before_birth(np.full(len(near), person), faces.days[near], {person: born})]
    result = []
    for start in range(0, len(near), 2048):
        block = near[start : start + 2048]
        squared = squared_distances(faces.embeddings[block], faces.embeddings[mine].T)
        k = min(2, len(mine))
        means = _nearest_mean(squared, k)
        if faces.days is not None:
            # Its time first; where the person's faces of its time are not near, all of them
            # (few photos of one year are less alike than the person's nearest of any year).
            timely = _nearest_mean(_timely(squared, faces.days[block], faces.days[mine], k), k)
            means = np.where(timely <= distance, timely, means)
        result += [(int(p), float(m)) for p, m in zip(block, means, strict=True) if m <= distance]
    return result


def _learned_scores(scores: learned.PersonScores, faces: Faces, found: list[tuple[int, float]], person: int) -> list:
    """The learned score of each candidate for ``person`` (``photoface.learned``)."""
    positions = np.array([position for position, _mean in found], np.int64)
    return scores.score(faces.embeddings[positions], person).tolist() if len(positions) else []


def _nearest_mean(squared: np.ndarray, k: int) -> np.ndarray:
    """Each row's mean of its ``k`` smallest values."""
    return np.partition(squared, k - 1, axis=1)[:, :k].mean(axis=1)


def _timely(squared: np.ndarray, days: np.ndarray, their_days: np.ndarray, k: int) -> np.ndarray:
    """``squared`` (candidates x the person's faces) with the person's faces photographed far
    from each candidate's time left out (inf), for the candidates that keep ``k`` faces near
    in time; the others are compared with all of them, as undated photos are."""
    near = near_in_time(days[:, None], their_days[None, :])
    enough = near.sum(axis=1) >= k
    return np.where(near | ~enough[:, None], squared, np.inf)


def _face_suggestion(
    catalog: Catalog,
    faces: Faces,
    position: int,
    asked: tuple[int, float, float],
    *,
    runner_up: tuple[int, float] | None = None,
    copies: tuple[int, ...] = (),
) -> FaceSuggestion:
    """The question on the face at ``position``; ``asked``: its person, mean squared distance
    to their two nearest faces and learned score."""
    person, mean, learned_score = asked
    (row,) = catalog.face_rows([int(faces.ids[position])])
    alternative = {}
    if runner_up is not None:
        other, other_score = runner_up
        alternative = {
            "alternative": other,
            "alternative_name": catalog.person(other)["name"],
            "alternative_learned": round(other_score, 4),
        }
    return FaceSuggestion(
        face=int(faces.ids[position]),
        person=person,
        name=catalog.person(person)["name"],
        score=round(float(np.clip(1 - mean / 2, 0, 1)), 4),
        distance=round(mean, 4),
        photo=row["path"],
        current=int(faces.persons[position]) if faces.persons[position] != NO_PERSON else None,
        learned=round(learned_score, 4),
        copies=copies,
        **alternative,
    )


def _merge_suggestions(
    catalog: Catalog, faces: Faces, data: ClusterInput, distance: float, *, limit: int, only: int | None = None
) -> tuple[list[MergeSuggestion], int]:
    """Pairs of people whose faces lie close, at least one unnamed, nearest first (with ``only``:
    pairs holding that person), at most ``limit``; and how many pairs there are in all."""
    held = np.flatnonzero(faces.persons >= 0)
    people, members, centres = _mean_faces(faces, held)
    keep = ~np.isin(people, sorted(data.ignored))
    if keep.sum() < 2:
        return [], 0
    rows = np.flatnonzero(keep & ~np.isin(people, sorted(data.named)))
    if only is not None:
        rows = _rows_near(centres, rows, np.flatnonzero(people == only), count=4 * limit)
    nearest, similarity = _nearest_centres(centres, rows, keep)
    rejected = {(face, person) for face, person in data.rejections}
    found = []
    for row, other, alike in zip(rows, nearest, similarity, strict=True):
        if only is not None and only not in (people[row], people[other]):
            continue
        mine, theirs = members[row], members[other]
        if all((int(faces.ids[f]), int(people[other])) in rejected for f in mine) or all(
            (int(faces.ids[f]), int(people[row])) in rejected for f in theirs
        ):
            continue  # the user said these are not one person (asked either way round)
        squared = squared_distances(faces.embeddings[mine], faces.embeddings[theirs].T)
        mean = float(squared.min(axis=1).mean())
        if mean <= distance:
            found.append((mean, int(people[row]), int(people[other]), float(alike), len(mine)))
    found = _each_pair_once(sorted(found))
    shown = [
        MergeSuggestion(
            person=person,
            name=catalog.person(person)["name"],
            other=other,
            other_name=catalog.person(other)["name"],
            score=round(float(np.clip(alike, 0, 1)), 4),
            distance=round(mean, 4),
            faces=count,
        )
        for mean, person, other, alike, count in found[:limit]
    ]
    return shown, len(found)


def _rows_near(centres: np.ndarray, rows: np.ndarray, mine: np.ndarray, count: int) -> np.ndarray:
    """Of ``rows``, those that can pair with the person at ``mine`` (one row, or none when they
    hold no faces): theirs, and the ``count`` whose mean faces are most like theirs (comparing
    only these with everyone, not every unnamed person)."""
    if not len(mine):
        return rows[:0]
    alike = centres[rows] @ centres[mine[0]]
    alike[rows == mine[0]] = np.inf
    return rows[np.argsort(-alike, kind="stable")[: count + 1]]


def _each_pair_once(found: list[tuple]) -> list[tuple]:
    """Merge candidates (mean, person, other, ...) with only the first of "A, B" and "B, A"."""
    seen: set[frozenset[int]] = set()
    kept = []
    for item in found:
        pair = frozenset(item[1:3])
        if pair not in seen:
            seen.add(pair)
            kept.append(item)
    return kept


def _nearest_centres(centres: np.ndarray, rows: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``: the most similar other allowed centre and the similarity, in blocks
    (one matrix product per 1,024 people instead of one pass per person)."""
    nearest, similarity = np.empty(len(rows), np.int64), np.empty(len(rows), np.float32)
    for start in range(0, len(rows), 1024):
        block = rows[start : start + 1024]
        alike = centres[block] @ centres.T
        alike[:, ~allowed] = -np.inf
        alike[np.arange(len(block)), block] = -np.inf
        nearest[start : start + len(block)] = np.argmax(alike, axis=1)
        similarity[start : start + len(block)] = alike[np.arange(len(block)), nearest[start : start + len(block)]]
    return nearest, similarity


def identify(catalog: Catalog, engine: FaceEngine, photo: Path) -> list[dict]:
    """Each face in ``photo`` with the person it matches (named or not: an unnamed person of
    the library is an answer too), or unknown."""
    faces = engine.analyze(photo)
    matches = match_people(catalog, np.array([f.embedding for f in faces]).reshape(-1, 128), named_only=False)
    return [
        {
            "box": [round(v, 1) for v in face.box],
            "score": round(face.score, 4),
            "person": person["id"] if person else None,
            "name": person["name"] if person else None,
            "distance": round(mean, 4) if np.isfinite(mean) else None,
        }
        for face, (person, mean) in zip(faces, matches, strict=True)
    ]


@dataclass(frozen=True)
class LikeMatch:
    """What ``find --like`` looked for: the largest face of the photo (of ``faces`` found), the
    person it matched, how close (mean squared distance to their nearest faces) and their photos."""

    box: list[float]
    faces: int
    person: dict
    distance: float
    photos: list[str]


def find_like(catalog: Catalog, engine: FaceEngine, photo: Path) -> list[str]:
    """Photos of the person whose face is the largest in ``photo``."""
    return match_like(catalog, engine, photo).photos


def match_like(catalog: Catalog, engine: FaceEngine, photo: Path) -> LikeMatch:
    """The person whose face is the largest in ``photo``, how close, and their photos."""
    faces = engine.analyze(photo)
    if not faces:
        raise PhotofaceError(f"{photo}: no face found to look for")
    largest = max(faces, key=lambda face: face.box[2] * face.box[3])
    box = [round(v, 1) for v in largest.box]
    ((person, mean),) = match_people(catalog, largest.embedding[None], named_only=False)
    if person is None:
        if not np.isfinite(mean):
            raise PhotofaceError("nobody is clustered yet: run 'photoface cluster' first")
        raise PhotofaceError(
            f"{photo}: nobody in the catalog matches its largest face (box {', '.join(f'{v:.0f}' for v in box)}; "
            f"nearest faces at {mean:.2f}, limit {ClusterSettings.distance})"
        )
    return LikeMatch(box, len(faces), person, round(mean, 4), catalog.photos_of([person["id"]], every=False))


def most_typical_first(faces: list[dict]) -> list[dict]:
    """Closest to the person's mean embedding first, so wrong faces gather at the end of the page."""
    if len(faces) < 3:
        return faces
    vectors = np.stack([f["embedding"] for f in faces])
    closeness = vectors @ vectors.mean(axis=0)
    return [faces[i] for i in np.argsort(-closeness, kind="stable")]


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PhotofaceError("a name cannot be empty")
    if len(cleaned) > MAX_NAME:
        raise PhotofaceError(f"a name can have at most {MAX_NAME} characters, not {len(cleaned)}")
    if cleaned.isdigit():
        raise PhotofaceError(f"{cleaned!r} cannot be a name: numbers are person ids")
    return cleaned
