"""``photoface serve``: the app, its routes and what views share.

Every page is rendered on the server from the catalog as it is now (Jinja templates with
autoescape) and has a JSON twin (``?format=json``) holding the same data. Changes are JSON POSTs
to ``/api/...``, each one library call (``photoface.people``, ``photoface.review``) in its own
transaction. Security is one layer in front of everything (``security.Guard``).
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from photoface.catalog import Catalog, describe_write_fault, is_write_fault
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage, load_image
from photoface.people import NameInUse, PersonNotFound, StaleFaces
from photoface.review import ReviewSession, StaleQuestion
from photoface.thumbnails import ThumbnailCache, default_folder, thumbnail_name
from photoface.web.security import Guard, Secrets

MAX_BODY = 256 * 1024  # bytes of a JSON request; the largest is a list of face ids
STATIC = Path(__file__).parent / "static"


@dataclass
class Web:
    """What every view needs: the catalog (one connection per server thread), templates, the
    thumbnail cache, the review session and the secrets pages embed."""

    catalog_path: Path
    keys: Secrets
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.thumbs = ThumbnailCache(default_folder(self.catalog_path))
        self.review = ReviewSession(lambda: Catalog.open(self.catalog_path, create=False))
        self.review.prefetch()  # the first review page then need not wait for the queue
        self.templates = Environment(
            loader=PackageLoader("photoface.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(thumb=thumb_url, csrf=self.keys.csrf)

    def catalog(self) -> Catalog:
        """This thread's connection (SQLite connections are not shared between threads)."""
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._local.catalog = Catalog.open(self.catalog_path, create=False)
        return catalog

    def render(self, request: Request, template: str, data: dict, status: int = 200) -> Response:
        """The page, or with ``?format=json`` the data it shows."""
        if request.query_params.get("format") == "json":
            return JSONResponse(_plain(data), status_code=status)
        html = self.templates.get_template(template).render(**data, request=request)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def thumb_url(face: dict) -> str:
    return f"/thumbs/{thumbnail_name(face)}"


def loaded_photo(path: str, side: int) -> LoadedImage:
    """A catalogued photo, upright, at most ``side`` pixels; one that cannot be read now is a 404."""
    try:
        return load_image(path, max_side=side)
    except ImageLoadError as exc:
        raise HTTPException(404, f"cannot read the photo now: {exc}") from exc


def jpeg(image: Image.Image, quality: int) -> Response:
    """An image made for this request (a face or a photo at some size), cached by the browser a while."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Response(buffer.getvalue(), media_type="image/jpeg", headers={"cache-control": "private, max-age=600"})


def web(request: Request) -> Web:
    return request.app.state.web


def number(request: Request, name: str, default: int = 1) -> int:
    """A positive whole number from the query string; anything else is a 400."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 0 < int(text) < 10**9:
        raise HTTPException(400, f"{name} must be a positive whole number, not {text[:40]!r}")
    return int(text)


Action = Callable[["Web", dict], dict]


def action(handler: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint: the JSON body (with the URL's ids) to ``handler(web, body)`` in a worker
    thread; a PhotofaceError becomes ``{"error": ...}`` with a status saying what kind it is."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": f"request too large (over {MAX_BODY} bytes)"}, 413)
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"error": "the request body is not a JSON object"}, 400)
        body |= request.path_params
        app = web(request)
        try:
            return JSONResponse(await run_in_threadpool(handler, app, body))
        except PhotofaceError as exc:
            return JSONResponse(*error_answer(exc))
        except (sqlite3.OperationalError, OSError) as exc:
            if not is_write_fault(exc):
                raise
            # A full disk or a read-only drive: the transaction was rolled back; say so, keep serving.
            return JSONResponse({"error": describe_write_fault(app.catalog_path, exc)}, 503)

    return endpoint


def error_answer(exc: PhotofaceError) -> tuple[dict, int]:
    """The JSON and status of a refused request: 409 for a taken name (with its owner, so the
    page can offer the merge) or a stale page, 404 for an unknown person, else 400."""
    if isinstance(exc, NameInUse):
        return {"error": str(exc), "owner": exc.owner, "owner_name": exc.name}, 409
    if isinstance(exc, StaleFaces | StaleQuestion):
        return {"error": str(exc), "stale": True}, 409
    return {"error": str(exc)}, 404 if isinstance(exc, PersonNotFound) else 400


def ids_of(body: dict, key: str, *, at_least: int = 1) -> list[int]:
    """A list of ids from a request body, checked: a bad one is a one-line error naming it."""
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise PhotofaceError(f"{key} must be a list of ids")
    if len(value) < at_least or len(value) > 10_000:
        raise PhotofaceError(f"choose at least {at_least} in {key} (and at most 10,000)")
    return value


def id_of(body: dict, key: str, *, optional: bool = False) -> int | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PhotofaceError(f"{key} must be an id, not {str(value)[:40]!r}")
    return value


def text_of(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise PhotofaceError(f"{key} must be text")
    return value


def create_app(catalog_path: Path, keys: Secrets) -> Starlette:
    from photoface.web.views import faces, people, person, photos, review

    routes = [
        Route("/", people.page),
        Route("/people/{person:int}", person.page),
        Route("/review", review.page),
        Route("/unassigned", faces.unassigned),
        Route("/photos/{photo:int}", photos.page),
        Route("/photos/{photo:int}/image", photos.image),
        Route("/thumbs/{name:str}", faces.thumbnail),
        Route("/faces/{face:int}/large", faces.large),
        Route("/api/people/{person:int}/name", action(people.name), methods=["POST"]),
        Route("/api/people/{person:int}/ignore", action(people.ignore), methods=["POST"]),
        Route("/api/people/merge", action(people.merge), methods=["POST"]),
        Route("/api/faces/reject", action(faces.reject), methods=["POST"]),
        Route("/api/faces/move", action(faces.move), methods=["POST"]),
        Route("/api/faces/split", action(faces.split), methods=["POST"]),
        Route("/api/review/answer", action(review.answer), methods=["POST"]),
        Route("/api/review/undo", action(review.undo), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, keys=keys)],
        exception_handlers={HTTPException: _error_page, PhotofaceError: _error_page},
    )
    app.state.web = Web(catalog_path, keys)
    return app


async def _error_page(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else error_answer(exc)[1]
    message = exc.detail if isinstance(exc, HTTPException) else str(exc)
    if status == 404 and message == "Not Found":
        message = f"nothing at {request.url.path}: start from the people page"
    if request.url.path.startswith("/api/") or request.query_params.get("format") == "json":
        return JSONResponse({"error": message}, status)
    return web(request).render(request, "error.html", {"title": f"{status}", "message": message}, status)


def _plain(data: object) -> object:
    """Page data as JSON: numpy arrays and paths left out or turned into text."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k not in {"embedding", "request"}}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    if isinstance(data, Path):
        return str(data)
    if hasattr(data, "__dataclass_fields__"):
        return _plain(vars(data))
    return data
