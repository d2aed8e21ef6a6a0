"""What every view shares: ``Web`` (the server's state), rendering a page or its JSON twin, the
JSON POST wrapper ``action`` with its error answers, and checked request values.

It lives here, below the views, so that ``app.py`` only builds the app and its routes: views
import this module, ``app.py`` imports the views, and nothing imports back up (as datasette keeps
``views/base.py`` and ``utils/asgi.py`` under its ``app.py``).
"""

from __future__ import annotations

import io
import json
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from photoface.catalog import Catalog, describe_write_fault, is_write_fault
from photoface.errors import ImageLoadError, PhotofaceError
from photoface.imageio import LoadedImage
from photoface.index import FaceIndex
from photoface.index import _locked as index_files_locked
from photoface.people import NameInUse, PersonNotFound, StaleFaces
from photoface.report import clock, load_still
from photoface.review import ReviewSession, StaleQuestion
from photoface.thumbnails import ThumbnailCache, default_folder, thumbnail_name
from photoface.web.security import Secrets

if TYPE_CHECKING:  # the engine (onnxruntime) loads only when a face is drawn
    from photoface.engine import FaceEngine

MAX_BODY = 256 * 1024  # bytes of a JSON request; the largest is a list of face ids
UNDO_KEPT = 100  # changes made on the pages that can still be undone (the review queue keeps its own)


@dataclass
class Web:
    """What every view needs: the catalog (one connection per server thread), templates, the
    thumbnail cache, the review session, the undo states of recent changes and the secrets
    pages embed."""

    catalog_path: Path
    keys: Secrets
    _local: threading.local = field(default_factory=threading.local)
    _undo: OrderedDict[str, dict] = field(default_factory=OrderedDict)
    _undo_lock: threading.Lock = field(default_factory=threading.Lock)
    _index: FaceIndex | None = None
    _index_lock: threading.Lock = field(default_factory=threading.Lock)
    _engine: FaceEngine | None = None
    drawing: threading.Lock = field(default_factory=threading.Lock)  # held while a drawn face is made

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
        self.templates.filters["clock"] = clock  # a time in a video: 0:07

    def catalog(self) -> Catalog:
        """This thread's connection (SQLite connections are not shared between threads)."""
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._local.catalog = Catalog.open(self.catalog_path, create=False)
        return catalog

    def render(self, request: Request, template: str, data: dict, status: int = 200) -> Response:
        """The page, or with ``?format=json`` the data it shows."""
        if request.query_params.get("format") == "json":
            return JSONResponse(plain(data), status_code=status)
        html = self.templates.get_template(template).render(**data, request=request)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def nearest_faces(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``FaceIndex.search`` on one index kept for the server's life (loading it costs 0.3 s at
        100,000 faces), brought up to date with the catalog first; one search at a time, on its
        own connection."""
        with self._index_lock:
            if self._index is None:
                self._index = FaceIndex.open(Catalog.open(self.catalog_path, create=False))
            else:
                # sync() may save the index files: under their lock, as FaceIndex.open does, since
                # the review queue's people.suggest opens and saves them in another thread.
                with index_files_locked(self._index.catalog):
                    self._index.sync()
            return self._index.search(vector, k)

    def engine(self) -> FaceEngine:
        """The face engine for drawn faces, to use holding ``drawing`` (one drawn face at a time):
        loaded for the first one (the pages need no model), with the profile whose model made the
        catalog's faces."""
        from photoface.drawn import matching_profile
        from photoface.engine import FaceEngine

        if self._engine is None:
            self._engine = FaceEngine.from_profile(matching_profile(self.catalog()), "auto")
        return self._engine

    def remember(self, face_ids: Sequence[int], person_ids: Sequence[int]) -> str:
        """Keep what a change to these faces and people can alter; the key undoes it (``undo``).
        Taken before the change, so the page can offer "Undo" right after it."""
        state = self.catalog().decision_state(list(face_ids), list(person_ids))
        key = secrets.token_urlsafe(9)
        with self._undo_lock:
            self._undo[key] = state
            while len(self._undo) > UNDO_KEPT:
                self._undo.popitem(last=False)
        return key

    def made_by(self, key: str, person: int) -> None:
        """``person`` was created by the change ``key`` undoes: undone, it goes too (an unnamed
        one would anyway; a new name must not stay behind as an empty person)."""
        with self._undo_lock:
            if key in self._undo:
                self._undo[key].setdefault("created", []).append(person)

    def added(self, key: str, face: int) -> None:
        """``face`` was made by the change ``key`` undoes (a drawn face): undone, it is deleted."""
        with self._undo_lock:
            if key in self._undo:
                self._undo[key].setdefault("added", []).append(face)

    def undo(self, key: str) -> None:
        """Put back the faces and people as ``remember`` saw them; each key works once."""
        with self._undo_lock:
            state = self._undo.pop(key, None)
        if state is None:
            raise PhotofaceError("that change can no longer be undone (undone already, or the server restarted)")
        catalog = self.catalog()
        try:
            with catalog.transaction():
                catalog.delete_faces(state.get("added", []))
                catalog.restore_decisions(state)
                for person in state.get("created", []):
                    if not catalog.faces(person=person):
                        catalog.delete_person(person)
        except sqlite3.IntegrityError as exc:  # its old name was given to someone else since
            raise PhotofaceError(f"cannot undo: the catalog changed since ({exc}); reload the page") from exc


def web(request: Request) -> Web:
    return request.app.state.web


def thumb_url(face: dict) -> str:
    return f"/thumbs/{thumbnail_name(face)}"


def box_place(box: Sequence[float], photo: dict) -> dict:
    """A face box (upright full-resolution pixels) as percentages of the photo, for CSS."""
    x, y, w, h = box
    width, height = photo["width"] or 1, photo["height"] or 1
    return {
        "left": round(100 * x / width, 3),
        "top": round(100 * y / height, 3),
        "width": round(100 * w / width, 3),
        "height": round(100 * h / height, 3),
    }


def parsed_date(taken_at: str | None) -> datetime | None:
    """A photo's ``taken_at`` (ISO text from EXIF), or None when missing or unreadable."""
    try:
        return datetime.fromisoformat(taken_at) if taken_at else None
    except ValueError:
        return None


def day_label(taken_at: str | None) -> str:
    """ "15 Aug 2014", as a photo's caption says when it was taken."""
    when = parsed_date(taken_at)
    return f"{when.day} {when:%b %Y}" if when else "no date"


def loaded_photo(path: str, side: int, frame: float | None = None) -> LoadedImage:
    """A catalogued photo (with ``frame``: that second of a video), upright, at most ``side``
    pixels; one that cannot be read now is a 404."""
    try:
        return load_still(path, frame, side)
    except ImageLoadError as exc:
        raise HTTPException(404, f"cannot read the photo now: {exc}") from exc


def jpeg(image: Image.Image, quality: int) -> Response:
    """An image made for this request (a face or a photo at some size), cached by the browser a while."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Response(buffer.getvalue(), media_type="image/jpeg", headers={"cache-control": "private, max-age=600"})


def number(request: Request, name: str, default: int = 1) -> int:
    """A positive whole number from the query string; anything else is a 400."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 0 < int(text) < 10**9:
        raise HTTPException(400, f"{name} must be a positive whole number, not {text[:40]!r}")
    return int(text)


def choice(request: Request, name: str, allowed: Sequence[str]) -> str:
    """One of a fixed set from the query string (the first is the default); anything else is a 400."""
    value = request.query_params.get(name, allowed[0])
    if value not in allowed:
        raise HTTPException(400, f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


Action = Callable[[Web, dict], dict]


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


async def error_page(request: Request, exc: Exception) -> Response:
    """A refused or failed request: JSON for the API and ``?format=json``, else a page saying what to do."""
    status = exc.status_code if isinstance(exc, HTTPException) else error_answer(exc)[1]
    message = exc.detail if isinstance(exc, HTTPException) else str(exc)
    if status == 404 and message == "Not Found":
        message = f"nothing at {request.url.path}: start from the people page"
    if request.url.path.startswith("/api/") or request.query_params.get("format") == "json":
        return JSONResponse({"error": message}, status)
    return web(request).render(request, "error.html", {"title": f"{status}", "message": message}, status)


def plain(data: object) -> object:
    """Page data as JSON: numpy arrays and paths left out or turned into text."""
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items() if k not in {"embedding", "request"}}
    if isinstance(data, list | tuple):
        return [plain(v) for v in data]
    if isinstance(data, Path):
        return str(data)
    if hasattr(data, "__dataclass_fields__"):
        return plain(vars(data))
    return data
