"""The people page: cards largest first (unnamed and unreviewed first), name, merge, ignore."""

from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from photoface import people as service
from photoface.catalog import PEOPLE_FILTERS
from photoface.errors import PhotofaceError
from photoface.web.app import Web, id_of, ids_of, number, text_of, web

PAGE = 60  # cards on a page


def page(request: Request) -> Response:
    app = web(request)
    catalog = app.catalog()
    show = request.query_params.get("show", "all")
    if show not in PEOPLE_FILTERS:
        raise HTTPException(400, f"show must be one of {', '.join(PEOPLE_FILTERS)}, not {show[:40]!r}")
    search = request.query_params.get("q", "")[:200]
    current = number(request, "page")
    rows, total = catalog.people_summary(show=show, search=search, limit=PAGE, offset=(current - 1) * PAGE)
    for row in rows:
        clearest = catalog.gallery_faces(person=row["id"], order="clearest", limit=1)
        row["face"] = clearest[0] if clearest else None
    data = {
        "title": "People",
        "people": rows,
        "show": show,
        "filters": list(PEOPLE_FILTERS),
        "q": search,
        "page": current,
        "pages": max(1, math.ceil(total / PAGE)),
        "total": total,
        "unassigned": catalog.unassigned_faces(),
        "names": catalog.names(),
    }
    return app.render(request, "people.html", data)


def name(app: Web, body: dict) -> dict:
    catalog = app.catalog()
    person = service.name_person(catalog, id_of(body, "person"), text_of(body, "name"), merge=body.get("merge") is True)
    return {"person": person, "name": catalog.person(person)["name"]}


def ignore(app: Web, body: dict) -> dict:
    return {"person": service.ignore(app.catalog(), id_of(body, "person"))}


def merge(app: Web, body: dict) -> dict:
    """Merge the chosen people into the named one (the largest when none or several have names;
    several names are refused by ``people.merge``, as on the command line)."""
    catalog = app.catalog()
    chosen = ids_of(body, "people", at_least=2)
    rows = [service.resolve(catalog, person) for person in chosen]
    sizes = {row["id"]: len(catalog.faces(person=row["id"])) for row in rows}
    named = [row["id"] for row in rows if row["name"]]
    target = named[0] if len(named) == 1 else max(sizes, key=lambda p: (sizes[p], -p))
    if target not in sizes:
        raise PhotofaceError("nothing to merge")
    return {"person": service.merge(catalog, target, [p for p in sizes if p != target])}
