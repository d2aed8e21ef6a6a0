"""A person's page: their photos (newest first, each with its date) and their faces (most typical first, so
mistakes gather at the end), with pointers to people who look like them."""

from __future__ import annotations

import logging
import math
from datetime import date

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from photoface.catalog import Catalog
from photoface.clustering import ClusterSettings
from photoface.index import NO_FACE
from photoface.people import most_typical_first
from photoface.web.views.base import Web, choice, day_label, number, web

log = logging.getLogger(__name__)
PAGE = 300  # faces on a page
PHOTO_PAGE = 120  # photos on a page
TABS = ("photos", "faces")
ALIKE_FACES = 48  # nearest faces of the person's mean face looked at for "looks like"
ALIKE_SHOWN = 3


def page(request: Request) -> Response:
    app = web(request)
    catalog = app.catalog()
    person_id = request.path_params["person"]
    person = catalog.person(person_id)
    if person is None:
        raise HTTPException(404, f"no person {person_id}: they were merged, or a re-cluster removed them")
    tab = choice(request, "tab", TABS)
    faces = most_typical_first(catalog.gallery_faces(person=person_id))
    photos = photos_newest_first(catalog, faces)
    current = number(request, "page")
    size = PAGE if tab == "faces" else PHOTO_PAGE
    shown = len(faces) if tab == "faces" else len(photos)
    dated = [p["taken_at"] for p in photos if p["taken_at"]]
    data = {
        "title": person["name"] or f"Person {person_id}",
        "person": person,
        "tab": tab,
        "face": faces[0] if faces else None,
        "faces": faces[(current - 1) * PAGE : current * PAGE] if tab == "faces" else [],
        "shown": photos[(current - 1) * PHOTO_PAGE : current * PHOTO_PAGE] if tab == "photos" else [],
        "count": len(faces),
        "photos": len(photos),
        "years": sorted({d[:4] for d in dated}),
        "undated": len(photos) - len(dated),
        "alike": looks_like(app, person_id, faces),
        "page": current,
        "pages": max(1, math.ceil(shown / size)),
        "names": catalog.names(),
        "today": date.today().isoformat(),  # the date box's max: a birth date is never in the future
    }
    return app.render(request, "person.html", data)


def photos_newest_first(catalog: Catalog, faces: list[dict]) -> list[dict]:
    """The photos these faces are in, newest first; photos without a date last (by path)."""
    rows = [catalog.photo(photo_id) for photo_id in {face["photo_id"] for face in faces}]
    photos = [
        {
            **{key: row[key] for key in ("id", "path", "taken_at", "kind")},
            "date": day_label(row["taken_at"]),
        }
        for row in rows
        if row is not None and row["status"] == "ok"
    ]
    photos.sort(key=lambda p: p["path"])
    photos.sort(key=lambda p: p["taken_at"] or "", reverse=True)  # stable: equal dates stay by path
    return photos


def looks_like(app: Web, person_id: int, faces: list[dict]) -> list[dict]:
    """Other people whose faces lie near this person's mean face (a second cluster of the same
    person, typically), nearest first; pairs the user said are not one person are left out."""
    if not faces:
        return []
    catalog = app.catalog()
    vectors = np.stack([face["embedding"] for face in faces[:200]])
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1
    try:
        ids, squared = app.nearest_faces(centre, ALIKE_FACES)
    except Exception:  # a pointer is a nicety: the page must show without it, whatever failed
        log.warning("no 'looks like' pointers: the face index could not be opened", exc_info=True)
        return []
    near = [(int(face), float(d)) for face, d in zip(ids[0], squared[0], strict=True) if face != NO_FACE]
    # face_rows, not face_people: its IN (...) is looked up by id (face_people's join scanned
    # every face: 0.45 s at 100,000).
    owners = {row["id"]: row["person_id"] for row in catalog.face_rows([face for face, _ in near])}
    best: dict[int, float] = {}
    for face, distance in near:
        person = owners.get(face)
        if person not in (None, person_id) and distance <= ClusterSettings.distance:
            best[person] = min(best.get(person, distance), distance)
    mine = [face["id"] for face in faces]
    found = []
    for other in sorted(best, key=best.get):
        theirs = [face["id"] for face in catalog.faces(person=other)]
        if len(catalog.rejected(mine, other)) == len(mine) or len(catalog.rejected(theirs, person_id)) == len(theirs):
            continue  # "not the same person", said on the review page (either way round)
        row = catalog.person(other)
        if row is None or row["ignored"] or row["hidden"]:
            continue
        clearest = catalog.gallery_faces(person=other, order="clearest", limit=1)
        found.append({"id": other, "name": row["name"], "face": clearest[0] if clearest else None})
        if len(found) == ALIKE_SHOWN:
            break
    return found
