"""A person's page: every face, most typical first, so mistakes gather at the end."""

from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from photoface.people import most_typical_first
from photoface.web.app import number, web

PAGE = 300  # faces on a page


def page(request: Request) -> Response:
    app = web(request)
    catalog = app.catalog()
    person_id = request.path_params["person"]
    person = catalog.person(person_id)
    if person is None:
        raise HTTPException(404, f"no person {person_id}: they were merged, or a re-cluster removed them")
    faces = most_typical_first(catalog.gallery_faces(person=person_id))
    current = number(request, "page")
    pages = max(1, math.ceil(len(faces) / PAGE))
    data = {
        "title": person["name"] or f"Person {person_id}",
        "person": person,
        "faces": faces[(current - 1) * PAGE : current * PAGE],
        "count": len(faces),
        "photos": len({face["photo_id"] for face in faces}),
        "page": current,
        "pages": pages,
        "names": catalog.names(),
    }
    return app.render(request, "person.html", data)
