"""A photo, upright, with its face boxes and a list of its faces; the reduced image it shows. A
video's page is the same with its player, the tracks' boxes on a frame and their times; a
Live Photo's clip plays over its still. Files are served only as rows of the catalog, by id."""

from __future__ import annotations

import math
import mimetypes
import os

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from photoface.catalog import Catalog, path_from_db
from photoface.drawn import add_face
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.people import age
from photoface.web.views.base import Web, box_place, day_label, id_of, jpeg, loaded_photo, number, text_of, web

# Sizes served (a fixed set: nobody asks us to decode at 100,000 px); 3200 is for zooming in.
SIDES = (320, 640, 1024, 1600, 3200)
# A drawn box narrower or lower than this (photo pixels) is a slip of the finger, not a face: the
# detector does not look into boxes this small (engine.boxed.SMALLEST_LOOK) and the embedding of a
# face scaled up from a few pixels says nothing about who it is.
SMALLEST_DRAWN = 8


def _photo(request: Request) -> dict:
    photo_id = request.path_params["photo"]
    photo = web(request).catalog().photo(photo_id)
    if photo is None or photo["status"] != "ok":
        raise HTTPException(404, f"no photo {photo_id} in the catalog")
    return photo


def page(request: Request) -> Response:
    app = web(request)
    photo = _photo(request)
    faces = app.catalog().gallery_faces(photo_id=photo["id"])
    faces.sort(key=lambda face: (face["box"][0], face["box"][1]))  # left to right, as the numbers read
    faces.sort(key=lambda face: face["track_start"] or 0)  # a video's tracks as they come (stable: photos keep it)
    for face in faces:
        face["place"] = box_place(face["box"], photo)
        face["label"] = face["name"] or (f"Person {face['person']}" if face["person"] is not None else "nobody yet")
        face["age"] = _age(app.catalog(), face["person"], photo["taken_at"])
    data = {
        "title": photo["path"].rsplit("/", 1)[-1],
        "photo": {
            **{k: photo[k] for k in ("id", "path", "width", "height", "taken_at", "kind", "duration")},
            "date": day_label(photo["taken_at"]),
            "live": photo["live_clip"] is not None,
        },
        "faces": faces,
        "names": app.catalog().names(),
    }
    return app.render(request, "photo.html", data)


def _age(catalog: Catalog, person: int | None, taken_at: str | None) -> int | None:
    """The person's age in the photo, in whole years, where both dates are known."""
    found = catalog.person(person) if person is not None and taken_at else None
    return age(found.get("born"), taken_at) if found else None


def image(request: Request) -> Response:
    photo = _photo(request)
    side = number(request, "side", 1600)
    if side not in SIDES:
        raise HTTPException(400, f"side must be one of {', '.join(map(str, SIDES))}")
    frame = _poster_time(request, photo) if photo["kind"] == "video" else None
    return jpeg(loaded_photo(photo["path"], side, frame).image, quality=85)


def _poster_time(request: Request, photo: dict) -> float:
    """The second of a video its image shows: the frame of its face ``?face=`` (a face of this
    video, as the review page asks), else of its first track; the first frame without faces."""
    faces = web(request).catalog().gallery_faces(photo_id=photo["id"])
    wanted = request.query_params.get("face")
    if wanted is None:
        face = min(faces, key=lambda f: (f["track_start"] or 0, f["id"]), default=None)
    else:
        face = next((f for f in faces if str(f["id"]) == wanted), None)
        if face is None:
            raise HTTPException(404, f"no face {wanted[:20]!r} in video {photo['id']}: reload the page")
    return (face["frame_time"] or 0.0) if face else 0.0


def video(request: Request) -> Response:
    """A video's file, or a Live Photo's clip, streamed (with Range requests: the player seeks
    without reading the whole file); only files the catalog holds, found by the photo's id."""
    photo = _photo(request)
    if photo["kind"] == "video":
        clip = photo["path"]
    elif photo["live_clip"] is not None:
        clip = path_from_db(photo["live_clip"])
    else:
        raise HTTPException(404, f"photo {photo['id']} is a still: it has no video or Live Photo clip")
    if not os.path.isfile(clip):
        raise HTTPException(404, f"cannot read the video now: {clip} is not there (moved or deleted?): scan again")
    kind = mimetypes.guess_type(clip)[0] or "application/octet-stream"
    return FileResponse(clip, media_type=kind, headers={"cache-control": "private, max-age=600"})


def draw(app: Web, body: dict) -> dict:
    """A face the detector missed: ``box`` (x, y, w, h in pixels of the upright photo) becomes a
    face of ``name``, as ``photoface add-face`` makes it; undone, the face goes again."""
    catalog = app.catalog()
    photo = catalog.photo(id_of(body, "photo"))
    if photo is None or photo["status"] != "ok":
        raise PhotofaceError(f"no photo {body['photo']} in the catalog (rescanned or removed?): reload the page")
    if photo["kind"] == "video":
        raise PhotofaceError(f"{photo['path']} is a video: faces are drawn on photos, not on a video's frames")
    box = _drawn_box(body.get("box"))
    name = text_of(body, "name")
    if not name.strip():
        raise PhotofaceError("type the name of the person in the box")
    with app.drawing:
        undo = app.remember([], [])
        try:
            added = add_face(catalog, photo["path"], box, name, app.engine)
        except ImageLoadError as exc:
            raise PhotofaceError(f"cannot read the photo now: {exc} (moved or deleted? scan it again)") from exc
    app.added(undo, added.face)
    if added.created:
        app.made_by(undo, added.person)
    return {
        "face": added.face,
        "person": added.person,
        "name": added.name,
        "detected": added.detected,
        "box": list(added.box),
        "place": box_place(added.box, photo),
        "undo": undo,
    }


def _drawn_box(value: object) -> tuple[float, float, float, float]:
    """Four finite numbers, the box at least ``SMALLEST_DRAWN`` pixels each way (``add_face``
    checks it lies in the photo)."""
    numbers = value if isinstance(value, list) and len(value) == 4 else [None]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise PhotofaceError(f"box must be [x, y, width, height] in pixels of the photo, not {str(value)[:60]!r}")
    x, y, w, h = (float(v) for v in numbers)
    if min(w, h) < SMALLEST_DRAWN:
        raise PhotofaceError(
            f"the box is {w:.0f} x {h:.0f} pixels of the photo, too small for a face: draw around the whole face "
            f"(at least {SMALLEST_DRAWN} pixels each way; zoom in for a small one)"
        )
    return x, y, w, h
