"""Alignment is a pure function: pin it against transforms we build ourselves."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image, ImageDraw

from photoface.engine.align import CROP_SIZE, TEMPLATE, align_face, margin_crop, similarity_transform


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_similarity_recovers_a_known_transform():
    angle, scale, shift = math.radians(30), 2.5, np.array([40.0, -7.0])
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = TEMPLATE.copy()
    dst = src @ rotation.T + shift
    matrix = similarity_transform(src, dst)
    assert_allclose(matrix, np.hstack([rotation, shift[:, None]]), atol=1e-9)


def test_similarity_identity_on_the_template():
    assert_allclose(similarity_transform(TEMPLATE, TEMPLATE), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_similarity_never_reflects():
    mirrored = TEMPLATE * [-1, 1]
    matrix = similarity_transform(mirrored, TEMPLATE)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_similarity_least_squares_with_noise():
    rng = np.random.default_rng(0)
    src = TEMPLATE + rng.normal(0, 0.5, TEMPLATE.shape)
    matrix = similarity_transform(src, TEMPLATE)
    # A perturbed point set maps back close to the template (residual of the noise only).
    assert np.abs(_apply(matrix, src) - TEMPLATE).max() < 2.0


@pytest.mark.parametrize("angle", [0, 25, -40])
def test_align_face_puts_landmarks_on_the_template(angle):
    # Draw five dots where a rotated, scaled face would have its landmarks, then align.
    theta = math.radians(angle)
    rotation = 1.7 * np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    landmarks = (TEMPLATE - 80) @ rotation.T + [200, 150]
    image = Image.new("RGB", (400, 300))
    draw = ImageDraw.Draw(image)
    for x, y in landmarks:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(255, 255, 255))
    crop = np.asarray(align_face(image, landmarks))[:, :, 0].astype(float)
    assert crop.shape == (CROP_SIZE, CROP_SIZE)
    for x, y in TEMPLATE:
        window = crop[int(y) - 6 : int(y) + 7, int(x) - 6 : int(x) + 7]
        ys, xs = np.nonzero(window > 128)
        centre = np.array([xs.mean(), ys.mean()]) + [int(x) - 6, int(y) - 6] + 0.5
        assert np.abs(centre - [x, y]).max() < 1.0


def test_margin_crop_centres_the_box_with_context():
    image = Image.new("RGB", (300, 300))
    ImageDraw.Draw(image).rectangle([100, 100, 199, 199], fill=(255, 0, 0))  # the "face"
    crop = np.asarray(margin_crop(image, np.array([100, 100, 200, 200]), size=160, margin=32))
    red = crop[:, :, 0] > 128
    ys, xs = np.nonzero(red)
    # 100 px box + margin -> box fills 128 of 160 output pixels, 16 px context each side.
    assert abs(xs.min() - 16) <= 1 and abs(xs.max() - 143) <= 1
    assert abs(ys.min() - 16) <= 1 and abs(ys.max() - 143) <= 1
