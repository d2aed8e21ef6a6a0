"""Faces: thumbnails, unassigned faces, and the edits that move faces between people."""

from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from photoface import config
from photoface import people as service
from photoface.report import crop_face
from photoface.thumbnails import thumbnail_name
from photoface.web.views.base import Web, id_of, ids_of, jpeg, loaded_photo, number, text_of, web

PAGE = 300
LARGE = 256  # pixels of the face the review page asks about
IMMUTABLE = {"cache-control": "private, max-age=31536000, immutable"}  # names change when content does


def unassigned(request: Request) -> Response:
    app = web(request)
    catalog = app.catalog()
    current = number(request, "page")
    total = catalog.unassigned_faces()
    faces = catalog.gallery_faces(unassigned=True, order="largest", limit=PAGE, offset=(current - 1) * PAGE)
    data = {
        "title": "Unassigned faces",
        "faces": faces,
        "count": total,
        "page": current,
        "pages": max(1, math.ceil(total / PAGE)),
        "names": catalog.names(),
    }
    return app.render(request, "unassigned.html", data)


def face_of(request: Request, face_id: int) -> dict:
    found = web(request).catalog().gallery_faces(face=face_id)
    if not found:
        raise HTTPException(404, f"no face {face_id}: its photo was rescanned or removed")
    return found[0]


def thumbnail(request: Request) -> Response:
    """``/thumbs/<face>-<key>.jpg``: only the current thumbnail of a catalogued face."""
    name = request.path_params["name"]
    head = name.partition("-")[0]
    face = face_of(request, int(head)) if head.isdigit() and len(head) < 12 else None
    if face is None or thumbnail_name(face) != name:
        raise HTTPException(404, "no such thumbnail (the face changed since the page was made): reload the page")
    cache = web(request).thumbs
    if cache.ensure([face], workers=1).missing_photos:
        raise HTTPException(404, f"cannot read {face['photo']} now (moved or deleted?): scan again")
    return FileResponse(cache.path(face), media_type="image/jpeg", headers=IMMUTABLE)


def large(request: Request) -> Response:
    face = face_of(request, request.path_params["face"])
    loaded = loaded_photo(face["photo"], config.MAX_DETECTION_SIDE, face["frame_time"])
    return jpeg(crop_face(loaded, face["box"], LARGE), quality=88)


def reject(app: Web, body: dict) -> dict:
    """Not this person: the faces leave the person the page shows, for good."""
    catalog = app.catalog()
    faces, person = ids_of(body, "faces"), id_of(body, "person")
    service.require_owner(catalog, faces, person)
    undo = app.remember(faces, [person])
    return {"person": service.reject(catalog, faces, person), "faces": len(faces), "undo": undo}


def move(app: Web, body: dict) -> dict:
    """To another person by name (a new name makes a new person) or id; ``from`` is who the page
    showed them with (null: nobody), checked so a stale page changes nothing."""
    catalog = app.catalog()
    faces, was = ids_of(body, "faces"), id_of(body, "from", optional=True)
    service.require_owner(catalog, faces, was)
    to = text_of(body, "to")
    fresh = not to.strip().isdigit() and catalog.person_by_name(to.strip()) is None  # a new name, or "new"
    undo = app.remember(faces, [] if was is None else [was])
    person = service.move_faces(catalog, faces, to, create=True)
    if fresh:
        app.made_by(undo, person)
    return {"person": person, "name": catalog.person(person)["name"], "faces": len(faces), "undo": undo}


def split(app: Web, body: dict) -> dict:
    catalog = app.catalog()
    faces, person = ids_of(body, "faces"), id_of(body, "person")
    service.require_owner(catalog, faces, person)
    undo = app.remember(faces, [person])
    return {"person": service.split(catalog, person, faces), "faces": len(faces), "undo": undo}
