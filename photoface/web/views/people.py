"""The people page: cards (unnamed and unreviewed first, or sorted as the user asks), name,
merge, ignore; every change answers with an undo key the page's confirmation offers."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from photoface import people as service
from photoface.catalog import PEOPLE_FILTERS, PEOPLE_ORDERS
from photoface.errors import PhotofaceError
from photoface.web.views.base import Web, choice, id_of, ids_of, number, text_of, thumb_url, web

PAGE = 60  # cards on a page
# The filter tabs as the page names them (the catalog's keys stay the URL's words).
TABS = {"all": "All", "unnamed": "To name", "named": "Named", "ignored": "Ignored"}
SORTS = {"todo": "to do first", "largest": "most faces", "name": "name A–Z"}


def page(request: Request) -> Response:
    app = web(request)
    catalog = app.catalog()
    show = choice(request, "show", list(PEOPLE_FILTERS))
    order = choice(request, "sort", list(PEOPLE_ORDERS))
    search = request.query_params.get("q", "")[:200]
    current = number(request, "page")
    rows, total = catalog.people_summary(show=show, search=search, limit=PAGE, offset=(current - 1) * PAGE, order=order)
    for row in rows:
        clearest = catalog.gallery_faces(person=row["id"], order="clearest", limit=1)
        row["face"] = clearest[0] if clearest else None
    counts = catalog.people_counts(search)
    data = {
        "title": "People",
        "people": rows,
        "show": show,
        "tabs": [{"key": key, "label": TABS[key], "count": counts[key]} for key in PEOPLE_FILTERS],
        "sort": order,
        "sorts": SORTS,
        "q": search,
        "page": current,
        "pages": max(1, math.ceil(total / PAGE)),
        "total": total,
        # Nobody at all (not just nobody matching): the empty page then says how to begin.
        "library_empty": sum(catalog.people_counts().values()) == 0,
        "unassigned": catalog.unassigned_faces(),
        "names": catalog.names(),
    }
    return app.render(request, "people.html", data)


def name(app: Web, body: dict) -> dict:
    """Name a person (with ``merge``: join the person holding the name). The answer says what
    happened, so the page can confirm it in place and offer undo."""
    catalog = app.catalog()
    person_id, given = id_of(body, "person"), text_of(body, "name")
    merge = body.get("merge") is True
    before = service.resolve(catalog, person_id)
    owner = catalog.person_by_name(given.strip()) if merge else None
    held = [person_id, *([owner["id"]] if owner and owner["id"] != person_id else [])]
    undo = app.remember([f["id"] for p in held for f in catalog.faces(person=p)], held)
    person = service.name_person(catalog, person_id, given, merge=merge)
    row = catalog.person(person)
    faces = len(catalog.faces(person=person))
    clearest = catalog.gallery_faces(person=person, order="clearest", limit=1)
    return {
        "person": person,
        "name": row["name"],
        "was": before["name"],
        "merged": person != person_id,
        "faces": faces,
        "face": thumb_url(clearest[0]) if clearest else None,
        "undo": undo,
    }


def ignore(app: Web, body: dict) -> dict:
    catalog = app.catalog()
    person = id_of(body, "person")
    undo = app.remember([f["id"] for f in catalog.faces(person=person)], [person])
    return {"person": service.ignore(catalog, person), "undo": undo}


def born(app: Web, body: dict) -> dict:
    """Set a person's birth date (``born``: "YYYY-MM-DD"), or remove it (null), as ``photoface
    born`` does; the answer lists the faces taken from them (photos from before the date) and
    an undo key that gives them back with the date before."""
    value = body.get("born")
    if value is not None and not isinstance(value, str):
        raise PhotofaceError(f"born must be a date (YYYY-MM-DD) or null, not {str(value)[:40]!r}")
    catalog = app.catalog()
    held = service.resolve(catalog, id_of(body, "person"))["id"]
    undo = app.remember([f["id"] for f in catalog.faces(person=held)], [held])
    person, taken = service.set_birth_date(catalog, held, value)
    return {"person": person, "born": catalog.person(person)["born"], "taken": taken, "undo": undo}


def merge(app: Web, body: dict) -> dict:
    """Merge the chosen people into the named one (the largest when none or several have names;
    several names are refused by ``people.merge``, as on the command line)."""
    catalog = app.catalog()
    chosen = ids_of(body, "people", at_least=2)
    rows = [service.resolve(catalog, person) for person in chosen]
    faces = {row["id"]: [f["id"] for f in catalog.faces(person=row["id"])] for row in rows}
    named = [row["id"] for row in rows if row["name"]]
    target = named[0] if len(named) == 1 else max(faces, key=lambda p: (len(faces[p]), -p))
    if target not in faces:
        raise PhotofaceError("nothing to merge")
    undo = app.remember([f for ids in faces.values() for f in ids], list(faces))
    person = service.merge(catalog, target, [p for p in faces if p != target])
    row = catalog.person(person)
    return {"person": person, "name": row["name"], "people": len(faces), "undo": undo}
