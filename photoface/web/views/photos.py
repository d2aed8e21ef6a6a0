"""A photo, upright, with its face boxes and names; the reduced image it shows."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from photoface.web.app import jpeg, loaded_photo, number, web

SIDES = (320, 640, 1024, 1600)  # sizes served (a fixed set: nobody asks us to decode at 100,000 px)


def _photo(request: Request) -> dict:
    photo_id = request.path_params["photo"]
    photo = web(request).catalog().photo(photo_id)
    if photo is None or photo["status"] != "ok":
        raise HTTPException(404, f"no photo {photo_id} in the catalog")
    return photo


def box_place(box: tuple, photo: dict) -> dict:
    """A face box (upright full-resolution pixels) as percentages of the photo, for CSS."""
    x, y, w, h = box
    width, height = photo["width"] or 1, photo["height"] or 1
    return {
        "left": round(100 * x / width, 3),
        "top": round(100 * y / height, 3),
        "width": round(100 * w / width, 3),
        "height": round(100 * h / height, 3),
    }


def page(request: Request) -> Response:
    app = web(request)
    photo = _photo(request)
    faces = app.catalog().gallery_faces(photo_id=photo["id"])
    for face in faces:
        face["place"] = box_place(face["box"], photo)
    data = {
        "title": photo["path"].rsplit("/", 1)[-1],
        "photo": {k: photo[k] for k in ("id", "path", "width", "height", "taken_at")},
        "faces": faces,
        "names": app.catalog().names(),
    }
    return app.render(request, "photo.html", data)


def image(request: Request) -> Response:
    photo = _photo(request)
    side = number(request, "side", 1600)
    if side not in SIDES:
        raise HTTPException(400, f"side must be one of {', '.join(map(str, SIDES))}")
    return jpeg(loaded_photo(photo["path"], side).image, quality=85)
