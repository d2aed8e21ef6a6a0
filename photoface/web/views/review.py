"""Review: one question at a time ("is this Alice?", "Alice, or Beth?", "same person?"), Y/O/N/S
and undo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from photoface.errors import PhotofaceError
from photoface.review import Question, settled_faces
from photoface.web.views.base import Web, box_place, id_of, text_of, web

STRIP = 6  # clearest faces shown of each person


def page(request: Request) -> Response:
    app = web(request)
    question = app.review.current(app.catalog())
    return app.render(request, "review.html", {"title": "Review", **question_data(app, question)})


def answer(app: Web, body: dict) -> dict:
    next_question = app.review.answer(app.catalog(), _question(body), text_of(body, "answer"))
    return _fragment(app, next_question)


def undo(app: Web, body: dict) -> dict:
    return _fragment(app, app.review.undo(app.catalog()))


def question_data(app: Web, question: Question | None) -> dict:
    """What the question shows: the face (large, in its photo) and the clearest faces of each person."""
    catalog = app.catalog()
    data: dict = {"question": question, "can_undo": app.review.can_undo}
    if question is None:
        return data
    data["person"] = catalog.person(question.person)
    data["person_faces"] = catalog.gallery_faces(person=question.person, order="clearest", limit=STRIP)
    if question.kind == "face":
        (face,) = catalog.gallery_faces(face=question.face)
        photo = catalog.photo(face["photo_id"])
        face["place"] = box_place(face["box"], photo)
        face["aspect"] = f"{photo['width'] or 1} / {photo['height'] or 1}"
        data["face"] = face
        data["current"] = catalog.person(face["person"]) if face["person"] is not None else None
        data["copies"] = len(settled_faces(catalog, question, question.person)) - 1  # one answer for them all
        if question.other is not None:  # "Alice, or Beth?"
            data["other"] = catalog.person(question.other)
            data["other_faces"] = catalog.gallery_faces(person=question.other, order="clearest", limit=STRIP)
    else:
        data["other"] = catalog.person(question.other)
        data["other_faces"] = catalog.gallery_faces(person=question.other, order="clearest", limit=STRIP)
    return data


def _fragment(app: Web, question: Question | None) -> dict:
    data = question_data(app, question)
    html = app.templates.get_template("_question.html").render(**data)
    return {"html": html, "question": None if question is None else vars(question), "can_undo": data["can_undo"]}


def _question(body: dict) -> Question:
    kind = body.get("kind")
    if kind == "face":
        other = id_of(body, "other") if body.get("other") is not None else None
        return Question("face", id_of(body, "person"), face=id_of(body, "face"), other=other)
    if kind == "merge":
        return Question("merge", id_of(body, "person"), other=id_of(body, "other"))
    raise PhotofaceError("kind must be face or merge")
