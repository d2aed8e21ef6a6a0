"""People: clustering faces into people, and the user's edits on them.

Every edit is a manual decision that clustering respects (see ``photoface.clustering``).
Naming a person confirms the faces it holds: the user saw them (``photoface show``) and
said who they are, so re-clustering never takes them away.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photoface.catalog import Catalog
from photoface.clustering import NO_PERSON, ClusterSettings, Faces, plan, vote
from photoface.errors import PhotofaceError

if TYPE_CHECKING:  # the engine (onnxruntime) loads only for identify and find --like
    from photoface.engine import FaceEngine


class PersonNotFound(PhotofaceError):  # noqa: N818 - reads as the sentence it is
    """No person with that id or name."""


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
    clusters: int  # clusters HDBSCAN found
    assigned: int  # faces with a person
    unassigned: int
    changed: int  # faces whose person changed in this run
    attached: int  # faces joined to a named person by distance
    too_small: int  # faces below the quality size, not clustered


def cluster(catalog: Catalog, settings: ClusterSettings | None = None) -> ClusterReport:
    """Cluster every face and store the assignments in one transaction."""
    settings = settings or ClusterSettings()
    arrays, named, ignored = catalog.cluster_input()
    faces = Faces(**arrays)
    outcome = plan(faces, named, ignored, settings)
    persons = outcome.persons.copy()
    with catalog.transaction():
        placeholders = sorted({int(p) for p in persons if p < NO_PERSON}, reverse=True)
        for placeholder in placeholders:  # -2, -3, ...: numbered in the order clusters were found
            persons[persons == placeholder] = catalog.create_person()
        free = ~faces.fixed
        changed = free & (persons != faces.persons)
        catalog.set_auto_assignments(
            [
                (int(face), int(person) if person != NO_PERSON else None)
                for face, person in zip(faces.ids[changed], persons[changed], strict=True)
            ]
        )
        catalog.delete_empty_unnamed_people()
    assigned = int((persons != NO_PERSON).sum())
    return ClusterReport(
        people=len({int(p) for p in persons if p != NO_PERSON}),
        new_people=len(placeholders),
        clusters=outcome.clusters,
        assigned=assigned,
        unassigned=len(persons) - assigned,
        changed=int(changed.sum()),
        attached=outcome.noise_attached,
        too_small=int(((faces.sizes < settings.min_face_size) & free).sum()),
    )


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
        catalog.assign_faces(faces, target)
        catalog.delete_person(source)
    catalog.confirm_person(target)


def move_face(catalog: Catalog, face_id: int, target: str) -> int:
    """Put one face on another person (``"new"``: a new unnamed person). Returns that person."""
    with catalog.transaction():
        if not catalog.face_rows([face_id]):
            raise PhotofaceError(f"no face {face_id}: 'photoface faces' lists them")
        person = catalog.create_person() if target.strip().lower() == "new" else resolve(catalog, target)["id"]
        catalog.assign_faces([face_id], person)
        catalog.delete_empty_unnamed_people()
        return person


def ignore(catalog: Catalog, ref: str | int) -> int:
    """A stranger: their faces stay theirs and are kept out of automatic assignment."""
    with catalog.transaction():
        person = resolve(catalog, ref)
        catalog.update_person(person["id"], {"ignored": 1})
        catalog.confirm_person(person["id"])
        return person["id"]


def find_photos(catalog: Catalog, names: Sequence[str], *, any_of: bool = False) -> list[str]:
    people = [resolve(catalog, name)["id"] for name in names]
    return catalog.photos_of(people, every=not any_of)


def match_people(
    catalog: Catalog, embeddings: np.ndarray, *, named_only: bool, distance: float = ClusterSettings.distance
) -> list[tuple[dict | None, float]]:
    """For each embedding: the person its nearest catalogued faces belong to (None when they
    disagree or are farther than ``distance``) and the mean squared distance to them."""
    arrays, named, ignored = catalog.cluster_input()
    persons = arrays["persons"]
    candidates = np.flatnonzero(
        np.isin(persons, sorted(named)) if named_only else (persons >= 0) & ~np.isin(persons, sorted(ignored))
    )
    winners, means = vote(embeddings, arrays["embeddings"][candidates], persons[candidates])
    return [
        (catalog.person(int(w)) if w != -1 and m <= distance else None, float(m))
        for w, m in zip(winners, means, strict=True)
    ]


def identify(catalog: Catalog, engine: FaceEngine, photo: Path) -> list[dict]:
    """Each face in ``photo`` with the named person it matches, or unknown."""
    faces = engine.analyze(photo)
    matches = match_people(catalog, np.array([f.embedding for f in faces]).reshape(-1, 128), named_only=True)
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


def find_like(catalog: Catalog, engine: FaceEngine, photo: Path) -> list[str]:
    """Photos of the person whose face is the largest in ``photo``."""
    faces = engine.analyze(photo)
    if not faces:
        raise PhotofaceError(f"{photo}: no face found to look for")
    largest = max(faces, key=lambda face: face.box[2] * face.box[3])
    ((person, mean),) = match_people(catalog, largest.embedding[None], named_only=False)
    if person is None:
        if not np.isfinite(mean):
            raise PhotofaceError("nobody is clustered yet: run 'photoface cluster' first")
        raise PhotofaceError(
            f"{photo}: nobody in the catalog matches its largest face (nearest faces at "
            f"{mean:.2f}, limit {ClusterSettings.distance})"
        )
    return catalog.photos_of([person["id"]], every=False)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PhotofaceError("a name cannot be empty")
    if cleaned.isdigit():
        raise PhotofaceError(f"{cleaned!r} cannot be a name: numbers are person ids")
    return cleaned
