"""A face's signature (photoface/engine/signature.py): the grey cells around it say which shot it
is. Known answers on made images, then the scan: new faces get one, older faces get theirs."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from photoface.engine import signature
from photoface.engine.align import CROP_SIZE, TEMPLATE
from tests.test_corrections import _json, _run


def _scene(seed: int, size: int = 400) -> Image.Image:
    """A photo with structure at every scale: smooth blobs of grey, like a background."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (12, 12, 3)).astype(np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def _landmarks(centre: tuple[float, float], side: float) -> np.ndarray:
    """The template's five points for a face of ``side`` pixels centred at ``centre``."""
    return (TEMPLATE / CROP_SIZE - 0.5) * side + np.asarray(centre)


def _cells(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)[None, :]


def _distance(a: bytes, b: bytes) -> float:
    return float(signature.distances(_cells(a), _cells(b))[0])


def test_the_same_shot_resized_recoloured_or_cropped_is_the_same_signature():
    photo, points = _scene(0), _landmarks((200, 200), 80)
    original = signature.signature(photo, points)
    assert len(original) == signature.CELLS**2 and min(original) >= 1  # every cell inside the photo
    smaller = photo.resize((240, 240), Image.Resampling.LANCZOS)
    edited = ImageEnhance.Contrast(ImageEnhance.Brightness(photo).enhance(1.2)).enhance(0.8)
    cropped = photo.crop((60, 40, 400, 400))
    assert _distance(original, signature.signature(photo, points)) == pytest.approx(0, abs=1e-6)
    assert _distance(original, signature.signature(smaller, points * 0.6)) < 0.02
    assert _distance(original, signature.signature(edited, points)) < 0.02
    assert _distance(original, signature.signature(cropped, points - [60, 40])) < 0.02


def test_another_shot_or_the_face_moved_against_its_background_is_far():
    photo, points = _scene(0), _landmarks((200, 200), 80)
    original = signature.signature(photo, points)
    assert _distance(original, signature.signature(_scene(1), points)) > 0.3
    assert _distance(original, signature.signature(photo, _landmarks((240, 190), 80))) > 0.2


def test_cells_outside_the_photo_are_left_out_and_too_few_compare_as_unknown():
    photo = _scene(0)
    near_edge = signature.signature(photo, _landmarks((40, 200), 80))
    cells = np.frombuffer(near_edge, np.uint8).reshape(signature.CELLS, signature.CELLS)
    assert (cells[:, 0] == 0).all() and (cells[:, -1] > 0).all()  # the region's left side is outside
    off_photo = signature.signature(photo, _landmarks((-500, -500), 80))
    assert off_photo == signature.EMPTY
    assert _distance(near_edge, off_photo) == signature.NO_SIGNATURE
    assert _distance(signature.EMPTY, signature.EMPTY) == signature.NO_SIGNATURE


def test_a_flat_region_says_nothing():
    flat = Image.new("RGB", (300, 300), (128, 128, 128))
    points = _landmarks((150, 150), 60)
    assert _distance(signature.signature(flat, points), signature.signature(flat, points)) == signature.NO_SIGNATURE


def test_scan_signs_new_faces_and_older_faces_get_theirs_from_the_photo(tmp_path, fivecelebs):
    db = tmp_path / "c.db"
    folder = fivecelebs / "val" / "Ben Affleck"
    _run(db, "scan", str(folder))
    with sqlite3.connect(db) as connection:
        scanned = dict(connection.execute("SELECT id, signature FROM faces"))
        connection.execute("UPDATE faces SET signature = NULL")  # as a catalog from before migration 8
    assert scanned and all(s is not None and len(s) == len(signature.EMPTY) for s in scanned.values())
    _run(db, "scan", str(folder))
    with sqlite3.connect(db) as connection:
        filled = dict(connection.execute("SELECT id, signature FROM faces"))
    assert filled.keys() == scanned.keys()
    for face, cells in scanned.items():
        assert _distance(cells, filled[face]) < 0.005, face
    assert _json(db, "status")["faces"] == len(scanned)
