"""The review loop: the suggestion queue (``people.suggest``) asked one question at a time.

"Is this face Alice?" (or, where the queue would ask it for her sister too, "Alice, or Beth?")
and "are these two people one?", answered yes, no or skip, and "other" for the second person
named in a face question. Each answer is
stored the moment it is given, as the CLI's ``confirm``, ``reject`` and ``merge`` would store it,
and can be undone: before an answer changes anything, the faces, rejections and people it can
touch are kept, and undo puts them back.

The queue is computed a batch at a time (``suggest`` looks at every face: seconds on a large
library), the next batch in a background thread while the reviewer answers the last questions of
this one, so an answer never waits for it. Each question is checked against the catalog again
before it is shown or answered, so a scan, a re-cluster or another window changing things in
between never gets an answer applied to what it no longer is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from photoface import people
from photoface.catalog import Catalog
from photoface.errors import PhotofaceError

ANSWERS = ("yes", "no", "skip", "other")
BATCH = 40  # questions computed at once
LOW = 15  # questions left when the next batch starts being computed
log = logging.getLogger(__name__)
HISTORY = 200  # answers that can be undone


class StaleQuestion(PhotofaceError):  # noqa: N818
    """The question no longer applies (answered elsewhere, or the catalog changed)."""


@dataclass(frozen=True)
class Question:
    kind: str  # "face": is ``face`` ``person`` (or ``other``, when given)?  "merge": are ``person`` and ``other`` one?
    person: int
    face: int | None = None
    other: int | None = None  # face questions: the next likeliest person, asked in the same question
    score: float = 0.0  # 0..1, how alike
    learned: float | None = None  # face questions: the person's learned score when the batch was computed

    @property
    def key(self) -> str:
        if self.kind == "face":
            return f"face:{self.face}:{self.person}"
        pair = sorted((self.person, self.other or 0))
        return f"merge:{pair[0]}:{pair[1]}"  # one question whichever way round


@dataclass(frozen=True)
class Answer:
    question: Question
    answer: str
    before: dict | None  # Catalog.decision_state before the answer changed anything


class ReviewSession:
    """One reviewer's queue, skips and undo history (a web server holds one).

    With ``open_catalog`` (a catalog of its own for another thread), batches are computed ahead
    in the background; without it, when the queue runs out."""

    def __init__(self, open_catalog: Callable[[], Catalog] | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: list[Question] = []
        self._skipped: set[str] = set()
        self._history: list[Answer] = []
        self._open_catalog = open_catalog
        self._ahead: tuple[list[Question], int] | None = None  # the next batch and its queue's size
        self._computing: threading.Thread | None = None
        self._left = 0  # questions in the whole queue when the batch was computed ...
        self._answered = 0  # ... and answers given since

    def prefetch(self) -> None:
        """Start computing the next batch in the background (no-op without ``open_catalog``)."""
        if self._open_catalog is None or (self._computing is not None and self._computing.is_alive()):
            return
        self._computing = threading.Thread(target=self._compute_ahead, name="review-batch", daemon=True)
        self._computing.start()

    def _compute_ahead(self) -> None:
        try:
            with self._open_catalog() as catalog:
                batch = _batch_and_left(catalog)
        except Exception:  # a failed prefetch only means the next batch is computed in line
            log.info("computing review questions ahead failed", exc_info=True)
            return
        self._ahead = batch  # one assignment, atomic; _current waits for this thread, not for the lock

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    @property
    def left(self) -> int:
        """About how many questions are left ("about 40 questions"): the whole queue's size when
        the batch was computed, less the answers since (at least the questions still queued)."""
        return max(self._left - self._answered, len(self._queue))

    def current(self, catalog: Catalog) -> Question | None:
        """The next open question, or None when there is nothing left to ask."""
        with self._lock:
            return self._current(catalog)

    def answer(self, catalog: Catalog, question: Question, answer: str) -> Question | None:
        """Store ``answer`` to ``question``; returns the next question."""
        if answer not in ANSWERS:
            raise PhotofaceError(f"unknown answer {answer!r}: one of {', '.join(ANSWERS)}")
        with self._lock:
            question = next((q for q in self._queue if q.key == question.key), question)  # with its score
            if not _still_open(catalog, question) or (answer == "other" and not _other_open(catalog, question)):
                self._queue = [q for q in self._queue if q.key != question.key]
                raise StaleQuestion("that question was answered or changed meanwhile: here is the next one")
            before = None
            if answer == "skip":
                self._skipped.add(question.key)
            else:
                before = catalog.decision_state(*_touched(catalog, question))
                _apply(catalog, question, answer)
            self._history = [*self._history, Answer(question, answer, before)][-HISTORY:]
            # Its near-copies are settled with it (settled_faces) and never queued beside it.
            self._queue = [q for q in self._queue if q.key != question.key]
            self._answered += 1
            return self._current(catalog)

    def undo(self, catalog: Catalog) -> Question:
        """Take the last answer back; its question is asked again (and returned)."""
        with self._lock:
            if not self._history:
                raise PhotofaceError("nothing to undo")
            last = self._history.pop()
            if last.before is not None:
                with catalog.transaction():
                    catalog.restore_decisions(last.before)
            self._skipped.discard(last.question.key)
            self._queue.insert(0, last.question)
            self._answered = max(self._answered - 1, 0)  # its question is open again
            return last.question

    def _current(self, catalog: Catalog) -> Question | None:
        question = self._first_open(catalog)
        if question is None and self._computing is not None:
            self._computing.join()  # computing the next batch already: wait for it, do not compute it twice
            if self._ahead is not None:
                self._take(*self._ahead)
            self._ahead = None
            question = self._first_open(catalog)
        if question is None:  # no batch ahead, or one computed before the catalog changed
            self._take(*_batch_and_left(catalog))
            question = self._first_open(catalog)
        if question is not None and len(self._queue) < LOW and self._ahead is None:
            self.prefetch()
        return question

    def _take(self, batch: list[Question], left: int) -> None:
        self._queue, self._left, self._answered = batch, left, 0

    def _first_open(self, catalog: Catalog) -> Question | None:
        while self._queue:
            question = self._queue[0]
            if question.key not in self._skipped and _still_open(catalog, question):
                return question
            self._queue.pop(0)
        return None


def _batch(catalog: Catalog) -> list[Question]:
    """The questions whose answers settle the most first, faces and merges together."""
    return _batch_and_left(catalog)[0]


def _batch_and_left(catalog: Catalog) -> tuple[list[Question], int]:
    """``_batch`` and the number of questions in the whole queue.

    Each question's expected gain is how likely a "yes" is times the faces it settles: a face
    question settles one face, likely as its person's learned score says; a merge settles every
    face of the unnamed side, likely as their mean faces' similarity says. So an unnamed cluster
    that is probably Alice comes before one more face of someone nearly complete. Ties go to the
    nearer pair (the order before, by distance alone).
    """
    queue = people.review_queue(catalog, limit=BATCH)
    ranked = [
        (
            -_likely(f.learned + (f.alternative_learned or 0.0)),  # "Alice, or Beth?": either is a yes
            f.distance,
            Question("face", f.person, face=f.face, other=f.alternative, score=f.score, learned=f.learned),
        )
        for f in queue.faces
    ]
    ranked += [
        (-_likely(m.score) * m.faces, m.distance, Question("merge", m.person, other=m.other, score=m.score))
        for m in queue.merges
    ]
    return [question for *_, question in sorted(ranked, key=lambda item: item[:2])], queue.left


def _likely(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _still_open(catalog: Catalog, question: Question) -> bool:
    person = catalog.person(question.person)
    if person is None or person["ignored"]:
        return False
    if question.kind == "merge":
        other = catalog.person(question.other) if question.other is not None else None
        return other is not None and other["id"] != person["id"] and not other["ignored"]
    rows = catalog.face_rows([question.face]) if question.face is not None else []
    if not rows or rows[0]["assigned"] == "manual":
        return False
    return rows[0]["person_id"] != person["id"] and not catalog.rejected([question.face], person["id"])


def settled_faces(catalog: Catalog, question: Question, person: int) -> list[int]:
    """The faces an answer about ``person`` settles: the question's face and its near-copies
    (the same shot, the same answer), less those placed by hand or rejected for them."""
    group = catalog.copy_group(question.face)
    rejected = set(catalog.rejected(group, person))
    rows = catalog.face_rows(group)
    return [
        row["id"]
        for row in rows
        if row["id"] == question.face or (row["assigned"] != "manual" and row["id"] not in rejected)
    ]


def _other_open(catalog: Catalog, question: Question) -> bool:
    """Whether the second person of a face question can still be the answer."""
    if question.kind != "face" or question.other is None:
        raise PhotofaceError("this question names one person: answer yes, no or skip")
    other = catalog.person(question.other)
    return other is not None and not other["ignored"] and not catalog.rejected([question.face], other["id"])


def _touched(catalog: Catalog, question: Question) -> tuple[list[int], list[int]]:
    """The faces and people an answer to ``question`` can change."""
    if question.kind == "merge":
        held = [question.person, question.other]
        return [face["id"] for person in held for face in catalog.faces(person=person)], held
    group = catalog.copy_group(question.face)
    owners = {row["person_id"] for row in catalog.face_rows(group)} - {None}
    return group, [question.person, *({question.other} - {None}), *sorted(owners)]


def _apply(catalog: Catalog, question: Question, answer: str) -> None:
    if question.kind == "face":
        if answer in ("yes", "other"):
            person = question.person if answer == "yes" else question.other
            people.confirm(catalog, settled_faces(catalog, question, person), person)
            return
        asked = [
            question.person,
            *([question.other] if question.other is not None and _other_open(catalog, question) else []),
        ]
        for person in asked:  # "no": neither of the people asked about
            people.reject(catalog, settled_faces(catalog, question, person), person)
    elif answer == "yes":
        people.merge(catalog, question.other, [question.person])
    else:  # not one person: never asked again, either way round
        people.reject_merge(catalog, question.person, question.other)
