"""A photo, upright, with its face boxes and a list of its faces; the reduced image it shows."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from photoface.catalog import Catalog
from photoface.people import age
from photoface.web.views.base import box_place, day_label, jpeg, loaded_photo, number, web

# Sizes served (a fixed set: nobody asks us to decode at 100,000 px); 3200 is for zooming in.
SIDES = (320, 640, 1024, 1600, 3200)


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
    for face in faces:
        face["place"] = box_place(face["box"], photo)
        face["label"] = face["name"] or (f"Person {face['person']}" if face["person"] is not None else "nobody yet")
        face["age"] = _age(app.catalog(), face["person"], photo["taken_at"])
    data = {
        "title": photo["path"].rsplit("/", 1)[-1],
        "photo": {
            **{k: photo[k] for k in ("id", "path", "width", "height", "taken_at")},
            "date": day_label(photo["taken_at"]),
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
    return jpeg(loaded_photo(photo["path"], side).image, quality=85)
