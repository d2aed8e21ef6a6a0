"""Effort: how many answers a user spends to finish a library, and how finished it is after each.

A simulated user who knows the truth (a photo's folder names its person) does what the review
app asks, through the library API the CLI and the browser call (``photoface.people``,
``photoface.review``), never a private shortcut:

- ``cluster --full``, then a **naming pass**: the unnamed people, largest first (the people
  page's order). The user looks at each: its most common true identity is its name
  (``name_person``, one "name" answer); a name already in use is the CLI's and the browser's
  offer to merge (``name_person(merge=True)``, one "merge" answer). A person whose unknown
  faces (see Truth) outnumber its most common identity, or whose identity is a stranger, is
  left alone (no answer). Then the user fixes the wrong faces they see on named people
  (someone glancing at a person's 20 faces spots a stranger): each scored face of another
  known person is moved to them (``move_faces(create=True)``, the browser's move: a new name
  makes that person), a stranger's is unassigned (``unassign``); one "move" answer per face.
- **review rounds**: the browser's review page (``review.ReviewSession``, one for the whole run
  as ``photoface serve`` holds one, so a skipped question is not asked again), answered until
  it has nothing left to ask: "is this face X?" yes or no from the face's truth ("X, or Y?":
  "other" when it is Y's, no when it is neither's), "same
  person?" yes (merge) or no (the browser's N), skip where the truth is unknown. Then
  ``cluster`` (incremental, what a user runs after answering) and the naming pass again (new
  unnamed people, faces newly placed on named ones). The rounds stop after ``--rounds`` or
  when one asks nothing but skips and the pass changes nothing.

Truth. The person is the photo's folder (``<person>/x.jpg``; fivecelebs ``train|val/<Person>/``,
LFW ``images/<Name>/``). Only the largest face of each photo carries the label (how held-out
data is scored: "BCubed F on the largest face of each photo"); the other faces are unknown, never
scored, and the user skips questions on them and leaves them where they are. In
``../shared/data/people``, ``_groups/`` photos are unknown entirely (groups.json lists who is
in them, without boxes), and each ``_strangers/`` photo's face is its own identity: scored for
BCubed, never a person to find.

Measures after each round: for each person (each folder with a scored face), ``find`` F is the
F1 of the photos ``people.find_photos(catalog, [name])`` returns (group photos left out, as
their truth is unknown) against the photos whose largest face is theirs; a person never named
has F 0. "F scored" is the same, but a returned photo counts only when its labelled face
is the person's (rightly or wrongly): one found through an unknown face (a background face,
who may well be them: LFW's Bush in a Powell photo) is neither right nor wrong. Mean find F,
people complete (F >= 0.98), the answers of the round by kind,
cumulative answers, answers per photo, and BCubed F of the assignment on the scored faces
(``benchmarks.clustering.scores``). Over the whole run, the "is this X?" answers (yes, other,
no) counted by X's learned score when the question's batch was computed (``by_learned``, the
second table): where the score says nothing of the answer, the share of yes stays level.

The catalog given is never written: it is copied (SQLite's backup, WAL included; the face index
beside it is derived and rebuilt) into a temporary folder and the user works on the copy.
``--lfw-subset N``: the people with 4 or more catalogued photos, sorted by name and shuffled by
``numpy.random.default_rng(0).permutation``; each is taken whole while the total stays at most N
photos, until N; every other photo is removed from the copy (``Catalog.remove_photos``, its
faces go with it) before clustering.

    python -m benchmarks.effort --db /tmp/cat/fivecelebs.db --data-root ../shared/data/fivecelebs
    python -m benchmarks.effort --db /tmp/cat/people.db --data-root ../shared/data/people
    python -m benchmarks.effort --db /tmp/cat/lfw.db --data-root ../shared/data/lfw --lfw-subset 1500
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path, PurePath

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.clustering import scores
from benchmarks.common import peak_rss_mb, write_result
from photoface import people
from photoface.catalog import Catalog, path_from_db
from photoface.clustering import NO_PERSON
from photoface.learned import CUT
from photoface.review import Question, ReviewSession

KINDS = ("name", "merge", "move", "yes", "other", "no", "skip")
COMPLETE = 0.98  # find F at which a person counts as finished
STRANGER = "_strangers/"  # identity prefix: a face of nobody in the library's folders
GROUPS = "_groups"  # a folder of photos whose faces are unknown
MIN_PHOTOS = 4  # --lfw-subset: people with at least this many photos
SEED = 0
MAX_ANSWERS = 20_000  # per review round: a queue that never empties is a bug to see, not to wait for


# ------------------------------------------------------------------ truth
def identity(relative: PurePath) -> str | None:
    """Whose face the photo at ``relative`` (to the data root) is labelled with; None: unknown."""
    parts = relative.parts
    if len(parts) < 2 or parts[0] == GROUPS or parts[0] == os.pardir:
        return None
    if parts[0] == STRANGER.rstrip("/"):
        return STRANGER + relative.stem  # one photo, one identity
    return " ".join(parts[-2].split())  # as a name is stored (whitespace collapsed)


def is_person(label: str) -> bool:
    """A person to find (a folder of the library), not a stranger."""
    return not label.startswith(STRANGER)


@dataclass(frozen=True)
class Truth:
    labels: dict[int, str]  # the largest face of each labelled photo -> its identity
    photos: dict[str, frozenset[str]]  # person -> photos whose largest face is theirs
    labelled: dict[str, int]  # photo -> its labelled face
    photo_count: int  # photos in the catalog

    @property
    def people(self) -> list[str]:
        return sorted(self.photos)

    @property
    def scored_photos(self) -> frozenset[str]:
        return frozenset(self.labelled)


def read_truth(catalog: Catalog, root: Path) -> Truth:
    """Labels from the folders, on each photo's largest face (ties: the lower face id)."""
    largest: dict[str, dict] = {}
    for face in catalog.faces():
        best = largest.get(face["photo"])
        if best is None or face["size"] > best["size"]:
            largest[face["photo"]] = face
    labels, photos = {}, {}
    for path, face in sorted(largest.items()):
        label = identity(PurePath(os.path.relpath(path, root)))
        if label is None:
            continue
        labels[face["id"]] = label
        if is_person(label):
            photos.setdefault(label, set()).add(path)
    return Truth(
        labels=labels,
        photos={person: frozenset(paths) for person, paths in photos.items()},
        labelled={path: face["id"] for path, face in largest.items() if face["id"] in labels},
        photo_count=catalog.stats()["photos"],
    )


# ------------------------------------------------------------ the catalog
@contextmanager
def working_copy(source: Path) -> Iterator[Path]:
    """A copy of the catalog in a temporary folder (``copy_catalog``): the source is never written."""
    with tempfile.TemporaryDirectory(prefix="effort-") as folder:
        copy = Path(folder) / source.name
        copy_catalog(source, copy)
        yield copy


def copy_catalog(source: Path, target: Path) -> None:
    """SQLite's backup of ``source`` (its WAL included) into ``target``, the source opened
    read-only; without a WAL beside it, immutable, so not even an empty WAL appears there."""
    wal = source.with_name(source.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?{mode}", uri=True)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def lfw_subset(catalog: Catalog, root: Path, photos: int, seed: int = SEED) -> list[str]:
    """Whole people with ``MIN_PHOTOS`` or more photos, in a seeded random order, while the total
    stays at most ``photos``; returns them (see the module docstring)."""
    counts = Counter(
        label
        for path in _catalogued_photos(catalog).values()
        if (label := identity(PurePath(os.path.relpath(path, root)))) is not None and is_person(label)
    )
    candidates = sorted(person for person, count in counts.items() if count >= MIN_PHOTOS)
    chosen, total = [], 0
    for position in np.random.default_rng(seed).permutation(len(candidates)):
        person = candidates[position]
        if total + counts[person] <= photos:
            chosen.append(person)
            total += counts[person]
        if total == photos:
            break
    return sorted(chosen)


def keep_only(catalog: Catalog, root: Path, chosen: list[str]) -> int:
    """Remove every photo (and so its faces) whose person is not ``chosen``; returns how many stay."""
    wanted = set(chosen)
    drop = [
        photo_id
        for photo_id, path in _catalogued_photos(catalog, every_status=True).items()
        if identity(PurePath(os.path.relpath(path, root))) not in wanted
    ]
    with catalog.transaction():
        catalog.remove_photos(drop)
    return catalog.stats()["photos"]


def _catalogued_photos(catalog: Catalog, *, every_status: bool = False) -> dict[int, str]:
    where = "" if every_status else "WHERE status = 'ok'"
    return {row[0]: path_from_db(row[1]) for row in catalog.db.execute(f"SELECT id, path FROM photos {where}")}


# ------------------------------------------------------- the simulated user
@dataclass
class User:
    """Knows every scored face's identity; does what the review app asks, and counts it."""

    truth: Truth
    answers: Counter = field(default_factory=Counter)
    left_unnamed: int = 0  # clusters looked at and left alone (mostly unknown faces), last pass
    started: float = field(default_factory=time.perf_counter)  # when the user began
    # One session for the whole run, as `photoface serve` holds one: a skip is not asked again.
    session: ReviewSession = field(default_factory=ReviewSession)
    # Each "is this X?" answered yes, other or no, with the person's learned score when asked.
    face_answers: list[tuple[str, float]] = field(default_factory=list)

    def identity_of(self, catalog: Catalog, person_id: int) -> str | None:
        """Who a person is to the user: their name if named, else the most common identity of
        their faces (ties: known people first, then by name); None when unknown faces (the
        smaller faces of photos, group photos) outnumber it, or nothing is known."""
        person = catalog.person(person_id)
        if person is None:
            return None
        if person["name"]:
            return person["name"]
        labels = [self.truth.labels.get(face["id"]) for face in catalog.faces(person=person_id)]
        seen = Counter(label for label in labels if label is not None)
        if not seen:
            return None
        best = min(seen, key=lambda label: (-seen[label], not is_person(label), label))
        return None if labels.count(None) > seen[best] else best

    def naming_pass(self, catalog: Catalog) -> int:
        """Name the unnamed people largest first, then fix the wrong faces of every named one;
        returns the answers given."""
        before = sum(self.answers.values())
        self.left_unnamed = 0
        for row in catalog.people():
            if row["name"] is None and catalog.person(row["id"]) is not None:
                self._name(catalog, row["id"])
        for row in catalog.people():
            if row["name"] is not None:
                self._fix(catalog, row["id"], row["name"])
        return sum(self.answers.values()) - before

    def _name(self, catalog: Catalog, person_id: int) -> None:
        label = self.identity_of(catalog, person_id)
        if label is None or not is_person(label):
            self.left_unnamed += 1
            return
        try:
            person_id = people.name_person(catalog, person_id, label)
            self.answers["name"] += 1
        except people.NameInUse:  # the CLI's "merge?" and the browser's offer: yes
            person_id = people.name_person(catalog, person_id, label, merge=True)
            self.answers["merge"] += 1

    def _fix(self, catalog: Catalog, person_id: int, name: str) -> None:
        """Every scored face of someone else on this person: to them, or to nobody (a stranger)."""
        for face in catalog.faces(person=person_id):
            label = self.truth.labels.get(face["id"])
            if label is None or _same(label, name):
                continue
            if is_person(label):
                people.move_faces(catalog, [face["id"]], label, create=True)
            else:
                people.unassign(catalog, [face["id"]])
            self.answers["move"] += 1

    def review(self, catalog: Catalog) -> Counter:
        """Answer the review session until it asks nothing more; returns the answers by kind."""
        session, given = self.session, Counter()
        question = session.current(catalog)
        while question is not None and sum(given.values()) < MAX_ANSWERS:
            answer = self.answer(catalog, question)
            given["merge" if question.kind == "merge" and answer == "yes" else answer] += 1
            if question.kind == "face" and answer != "skip" and question.learned is not None:
                self.face_answers.append((answer, question.learned))
            question = session.answer(catalog, question, answer)
        self.answers.update(given)
        return given

    def answer(self, catalog: Catalog, question: Question) -> str:
        """yes, no or skip, from the truth."""
        if question.kind == "face":
            label = self.truth.labels.get(question.face)
            name = catalog.person(question.person)["name"]
            if label is None or name is None:
                return "skip"
            if _same(label, name):
                return "yes"
            other = catalog.person(question.other)["name"] if question.other is not None else None
            return "other" if other is not None and _same(label, other) else "no"
        mine, theirs = self.identity_of(catalog, question.person), self.identity_of(catalog, question.other)
        if mine is None or theirs is None:
            return "skip"
        return "yes" if _same(mine, theirs) else "no"


def _same(label: str, name: str) -> bool:
    return label.casefold() == name.casefold()  # names are unique regardless of case


# --------------------------------------------------------------- measures
def measure(catalog: Catalog, truth: Truth) -> dict:
    """find F per person (two ways, see ``find_scores``), people complete, and BCubed on the
    scored faces."""
    owner = {face["id"]: face["person"] for face in catalog.faces()}
    find_f, find_f_scored = find_scores(catalog, truth, owner)
    ids = sorted(truth.labels)
    predicted = np.array([NO_PERSON if owner.get(i) is None else owner[i] for i in ids], dtype=np.int64)
    bcubed = scores(predicted, np.array([truth.labels[i] for i in ids]))
    values, scored = list(find_f.values()), list(find_f_scored.values())
    lonely = [i for i, p in zip(ids, predicted, strict=True) if p == NO_PERSON and is_person(truth.labels[i])]
    return {
        "unassigned_scored": len(lonely),  # known people's faces nobody holds: the queue never asks about them
        "mean_find_f": float(np.mean(values)) if values else 0.0,
        "complete": sum(f >= COMPLETE for f in values),
        "mean_find_f_scored": float(np.mean(scored)) if scored else 0.0,
        "complete_scored": sum(f >= COMPLETE for f in scored),
        "named": len(catalog.names()),
        **{key: bcubed[key] for key in ("bcubed_precision", "bcubed_recall", "bcubed_f")},
        "find_f": find_f,
        "find_f_scored": find_f_scored,
    }


def find_scores(catalog: Catalog, truth: Truth, owner: dict[int, int | None]) -> tuple[dict, dict]:
    """Per person: F of what ``find`` returns (group photos left out), every other photo wrong;
    and "scored": only the returned photos whose labelled face is theirs or wrongly theirs
    count, so a photo found through an unknown face (someone in the background, who may well
    be them) is neither right nor wrong."""
    named = {name.casefold() for name in catalog.names()}
    strict, scored = {}, {}
    for person in truth.people:
        if person.casefold() not in named:
            strict[person] = scored[person] = 0.0
            continue
        held = people.resolve(catalog, person)["id"]
        found = set(people.find_photos(catalog, [person])) & truth.scored_photos
        strict[person] = _f1(found, truth.photos[person])
        scored[person] = _f1({p for p in found if owner.get(truth.labelled[p]) == held}, truth.photos[person])
    return strict, scored


def _f1(found: set[str], truth: frozenset[str]) -> float:
    hits = len(found & truth)
    return 2 * hits / (len(found) + len(truth)) if found or truth else 1.0


# ------------------------------------------------------------------ runs
def run(db: Path, root: Path, *, rounds: int = 3, subset: int | None = None, full: bool = False) -> dict:
    """The whole benchmark on a working copy of ``db``: its rows (one per round) and the setup.
    ``full``: the user re-clusters with ``--full`` after answering (default: incremental)."""
    with working_copy(db) as copy, Catalog.open(copy, create=False) as catalog:
        chosen = lfw_subset(catalog, root, subset) if subset else None
        if chosen is not None:
            keep_only(catalog, root, chosen)
        truth = read_truth(catalog, root)
        user = User(truth)
        rows = [_row("clustered", catalog, user, people.cluster(catalog, full=True), Counter())]
        user.naming_pass(catalog)
        rows.append(_row("named", catalog, user, None, Counter(user.answers)))
        for number in range(1, rounds + 1):
            before = Counter(user.answers)
            asked = user.review(catalog)
            report = people.cluster(catalog, full=full)
            fixed = user.naming_pass(catalog)
            rows.append(_row(f"review {number}", catalog, user, report, user.answers - before))
            if fixed == 0 and sum(asked.values()) == asked["skip"]:
                break  # nothing left to ask but what the user cannot tell
        return {
            "db": db.name,
            "photos": truth.photo_count,
            "scored_faces": len(truth.labels),
            "people": len(truth.people),
            "subset_people": chosen,
            "recluster": "full" if full else "incremental",
            "rows": rows,
            "by_learned": by_learned(user.face_answers),
        }


LEARNED_BANDS = (CUT, 0.7, 0.8, 0.9, 1.0, 1.2)  # no face is asked under the cut


def by_learned(answers: list[tuple[str, float]]) -> list[dict]:
    """The face questions' answers counted by the asked person's learned score: where the score
    says nothing of the answer, the shares of yes stay level from band to band."""
    edges = (*LEARNED_BANDS, np.inf)
    return [
        {
            "from": low,
            "to": None if high == np.inf else high,
            **{
                kind: sum(1 for answer, score in answers if answer == kind and low <= score < high)
                for kind in ("yes", "other", "no")
            },
        }
        for low, high in pairwise(edges)
    ]


def _row(label: str, catalog: Catalog, user: User, report: people.ClusterReport | None, spent: Counter) -> dict:
    truth = user.truth
    total = sum(user.answers.values())
    return {
        "round": label,
        "answers": {kind: spent[kind] for kind in KINDS},
        "cumulative": total,
        "per_photo": total / max(truth.photo_count, 1),
        "cluster_mode": report.mode if report else None,
        "left_unnamed": user.left_unnamed,
        "seconds": time.perf_counter() - user.started,
        **measure(catalog, truth),
    }


def table(result: dict) -> Table:
    title = (
        f"effort on {result['db']}: {result['photos']} photos, {result['people']} people, "
        f"{result['scored_faces']} scored faces ({result['recluster']} re-cluster)"
    )
    grid = Table(title=title)
    columns = (
        "round",
        *KINDS,
        "answers",
        "per photo",
        "named",
        "mean find F",
        "complete",
        "F scored",
        "complete",
        "BCubed F",
        "seconds",
    )
    for column in columns:
        grid.add_column(column, justify="left" if column == "round" else "right")
    for row in result["rows"]:
        grid.add_row(
            row["round"],
            *(str(row["answers"][kind]) for kind in KINDS),
            str(row["cumulative"]),
            f"{row['per_photo']:.3f}",
            str(row["named"]),
            f"{row['mean_find_f']:.3f}",
            f"{row['complete']}/{result['people']}",
            f"{row['mean_find_f_scored']:.3f}",
            f"{row['complete_scored']}/{result['people']}",
            f"{row['bcubed_f']:.3f}",
            f"{row['seconds']:.1f}",
        )
    return grid


def learned_table(result: dict) -> Table:
    grid = Table(title='"is this X?" answered, by the learned score of X when asked')
    for column in ("learned score", "yes", "other", "no"):
        grid.add_column(column, justify="right")
    for band in result["by_learned"]:
        to = f"{band['to']:.1f}" if band["to"] is not None else ""
        grid.add_row(f"{band['from']:.1f}-{to}", *(str(band[kind]) for kind in ("yes", "other", "no")))
    return grid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a scanned catalog (copied, never written)")
    parser.add_argument("--data-root", type=Path, required=True, help="the folder scanned: <person>/photo")
    parser.add_argument("--rounds", type=int, default=3, help="review rounds after the naming pass")
    parser.add_argument("--lfw-subset", type=int, metavar="PHOTOS", help="whole people of 4+ photos, seed 0")
    parser.add_argument("--full", action="store_true", help="re-cluster with --full after each round")
    parser.add_argument("--name", help="results file name (default: effort_<db name>)")
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db} not found: scan the data root into it first (photoface --db {args.db} scan ...)")
    started = time.perf_counter()
    result = run(args.db, args.data_root.resolve(), rounds=args.rounds, subset=args.lfw_subset, full=args.full)
    console = Console(width=160)
    console.print(table(result))
    console.print(learned_table(result))
    name = args.name or f"effort_{args.db.stem}" + ("_full" if args.full else "")
    path = write_result(name, {**result, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()})
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
