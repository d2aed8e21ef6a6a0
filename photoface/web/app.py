"""``photoface serve``: the app and its routes, nothing else.

Every page is rendered on the server from the catalog as it is now (Jinja templates with
autoescape) and has a JSON twin (``?format=json``) holding the same data. Changes are JSON POSTs
to ``/api/...``, each one library call (``photoface.people``, ``photoface.review``) in its own
transaction. Security is one layer in front of everything (``security.Guard``). What the views
share lives in ``views/base.py``, below them: this module imports the views, and nothing
imports it back.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from photoface.errors import PhotofaceError
from photoface.web.security import Guard, Secrets
from photoface.web.views import faces, people, person, photos, review, undo
from photoface.web.views.base import Web, action, error_page

STATIC = Path(__file__).parent / "static"


async def favicon(request: Request) -> Response:
    """Browsers ask for ``/favicon.ico`` whatever the page says; answer it rather than log a 404."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers={"cache-control": "max-age=86400"})


def create_app(catalog_path: Path, keys: Secrets) -> Starlette:
    routes = [
        Route("/", people.page),
        Route("/people/{person:int}", person.page),
        Route("/review", review.page),
        Route("/unassigned", faces.unassigned),
        Route("/photos/{photo:int}", photos.page),
        Route("/photos/{photo:int}/image", photos.image),
        Route("/photos/{photo:int}/video", photos.video),
        Route("/thumbs/{name:str}", faces.thumbnail),
        Route("/faces/{face:int}/large", faces.large),
        Route("/favicon.ico", favicon),
        Route("/api/people/{person:int}/name", action(people.name), methods=["POST"]),
        Route("/api/people/{person:int}/ignore", action(people.ignore), methods=["POST"]),
        Route("/api/people/{person:int}/born", action(people.born), methods=["POST"]),
        Route("/api/people/merge", action(people.merge), methods=["POST"]),
        Route("/api/faces/reject", action(faces.reject), methods=["POST"]),
        Route("/api/faces/move", action(faces.move), methods=["POST"]),
        Route("/api/faces/split", action(faces.split), methods=["POST"]),
        Route("/api/photos/{photo:int}/faces", action(photos.draw), methods=["POST"]),
        Route("/api/undo", action(undo.undo), methods=["POST"]),
        Route("/api/review/answer", action(review.answer), methods=["POST"]),
        Route("/api/review/undo", action(review.undo), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, keys=keys)],
        exception_handlers={HTTPException: error_page, PhotofaceError: error_page},
    )
    app.state.web = Web(catalog_path, keys)
    return app
