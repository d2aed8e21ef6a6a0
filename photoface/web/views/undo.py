"""Undo for the changes made on the pages (naming, merging, ignoring, face edits): each answers
with a key, and the confirmation's "Undo" button sends it back here."""

from __future__ import annotations

from photoface.web.views.base import Web, text_of


def undo(app: Web, body: dict) -> dict:
    app.undo(text_of(body, "undo"))
    return {"undone": True}
